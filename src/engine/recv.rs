//! The receiving side: plain `recv` into one reusable buffer, cut into whole
//! messages. Every strategy's messages are received the same way, so the
//! receive copy costs the same whatever the sender did.

use std::io;
use std::os::fd::BorrowedFd;

use crate::sys;

/// Bytes the reader asks the kernel for at most per call when messages are small.
pub const READ_AHEAD: usize = 256 << 10;

/// A partial message up to this size is moved to the front before each read.
const SMALL_PARTIAL: usize = 8 << 10;

/// Why no whole message could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the peer closed the connection{}", mid(*partial))]
    Closed { partial: usize },
    #[error("no data for {timeout:?} (receive timeout){}", mid(*partial))]
    TimedOut {
        partial: usize,
        timeout: std::time::Duration,
    },
    #[error("recv failed: {0}")]
    Io(io::Error),
}

fn mid(partial: usize) -> String {
    if partial == 0 {
        String::new()
    } else {
        format!(" in the middle of a message ({partial} bytes of it had arrived)")
    }
}

/// Reads a stream of fixed-size messages.
pub(crate) struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    msg_len: usize,
}

impl Reader {
    /// A reader of `msg_len`-byte messages (0: a reader that is never used).
    pub fn new(msg_len: usize) -> Reader {
        let cap = if msg_len == 0 {
            0
        } else {
            msg_len.max(READ_AHEAD)
        };
        Reader {
            buf: vec![0; cap],
            start: 0,
            end: 0,
            msg_len,
        }
    }

    /// The next whole message. Reads more than one message's worth when the
    /// peer has sent it, so a stream of small messages costs few calls.
    pub fn next(&mut self, fd: BorrowedFd<'_>) -> Result<&[u8], ReadError> {
        // Before reading, move a partial message to the front when it is
        // small (a plain reader's data would land at the front too, in memory
        // the last read just warmed), when the next message would not fit,
        // or when less than half the buffer is left: each read then offers
        // the kernel at least half the buffer, at the price of copying under
        // one message.
        let partial = self.end - self.start;
        let short = self.buf.len() - self.end < self.buf.len() / 2;
        if partial < self.msg_len
            && self.start > 0
            && (partial <= SMALL_PARTIAL || short || self.start + self.msg_len > self.buf.len())
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < self.msg_len {
            let partial = self.end - self.start;
            match sys::recv(fd, &mut self.buf[self.end..], 0) {
                Ok(0) => return Err(ReadError::Closed { partial }),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let timeout = socket2::SockRef::from(&fd)
                        .read_timeout()
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    return Err(ReadError::TimedOut { partial, timeout });
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(ReadError::Closed { partial })
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        let msg = &self.buf[self.start..self.start + self.msg_len];
        self.start += self.msg_len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn splits_a_byte_stream_into_messages_across_reads() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(7 * 5).collect();
        a.write_all(&data[..12]).unwrap();
        let mut r = Reader::new(7);
        assert_eq!(r.next(b.as_fd()).unwrap(), &data[..7]);
        a.write_all(&data[12..]).unwrap();
        drop(a);
        for i in 1..5 {
            assert_eq!(r.next(b.as_fd()).unwrap(), &data[i * 7..i * 7 + 7]);
        }
        assert!(matches!(
            r.next(b.as_fd()),
            Err(ReadError::Closed { partial: 0 })
        ));
    }

    #[test]
    fn a_close_mid_message_says_how_much_arrived() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&[1, 2, 3]).unwrap();
        drop(a);
        let err = Reader::new(8).next(b.as_fd()).unwrap_err();
        assert!(matches!(err, ReadError::Closed { partial: 3 }));
        assert!(err.to_string().contains("3 bytes"));
    }
}
