//! `two-copy`: serialize header and fields into one contiguous buffer (the
//! user-space copy), then `send` it (the kernel's copy).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use super::{send_failed, SendError, Strategy, ZeroCopyStats};
use crate::engine::message::{Message, Shape};

pub struct TwoCopy {
    buf: Vec<u8>,
}

impl TwoCopy {
    pub fn new(shape: Shape) -> TwoCopy {
        TwoCopy {
            buf: Vec::with_capacity(shape.message_bytes()),
        }
    }
}

impl Strategy for TwoCopy {
    fn prepare(&mut self, _: BorrowedFd<'_>) -> Result<(), SendError> {
        Ok(())
    }

    fn reclaim(&mut self, _: BorrowedFd<'_>, _: usize, _: Duration) -> Result<(), SendError> {
        Ok(())
    }

    fn send(&mut self, fd: BorrowedFd<'_>, msg: &Message, _slot: usize) -> Result<(), SendError> {
        msg.serialize_into(&mut self.buf);
        let mut rest = &self.buf[..];
        while !rest.is_empty() {
            match crate::sys::send(fd, rest, libc::MSG_NOSIGNAL) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(send_failed(fd, e)),
            }
        }
        Ok(())
    }

    fn drain(&mut self, _: BorrowedFd<'_>, _: Duration) -> Result<(), SendError> {
        Ok(())
    }

    fn take_stats(&mut self) -> Option<ZeroCopyStats> {
        None
    }
}
