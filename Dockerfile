# copybench's image: the binary alone, run as a non-root user.
# Used by deploy/kubernetes (docs/kubernetes.md):
#   docker build -t registry.example/copybench:dev .
#
# Stage 1 builds with the Rust image (the CLI's features only: no criterion,
# whose benches the image does not run), stripped.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Cargo reads every declared target when it loads the manifest.
COPY benches ./benches
COPY examples ./examples
RUN cargo build --release --locked --no-default-features --features cli \
        --config profile.release.strip=true \
    && install -m 0755 target/release/copybench /copybench

# Stage 2: a slim base (glibc for the resolver) and the binary, nothing else of ours.
FROM debian:bookworm-slim
COPY --from=build /copybench /usr/local/bin/copybench
# 65532: the user the manifests' securityContext names (runAsNonRoot needs a numeric one).
USER 65532:65532
EXPOSE 7202
ENTRYPOINT ["copybench"]
CMD ["--help"]
