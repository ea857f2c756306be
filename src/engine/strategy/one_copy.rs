//! `one-copy`: `sendmsg` with one iovec per piece (header, each field); the
//! kernel gathers straight from the fields, so no user-space copy is made.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use super::{send_all, send_failed, SendError, Strategy, ZeroCopyStats};
use crate::engine::message::Message;

pub struct OneCopy;

impl Strategy for OneCopy {
    fn prepare(&mut self, _: BorrowedFd<'_>) -> Result<(), SendError> {
        Ok(())
    }

    fn reclaim(&mut self, _: BorrowedFd<'_>, _: usize, _: Duration) -> Result<(), SendError> {
        Ok(())
    }

    fn send(&mut self, fd: BorrowedFd<'_>, msg: &Message, _slot: usize) -> Result<(), SendError> {
        msg.with_io_slices(|bufs| {
            send_all(fd, bufs, 0, |res| {
                res.map(drop).map_err(|e| send_failed(fd, e))
            })
        })
    }

    fn drain(&mut self, _: BorrowedFd<'_>, _: Duration) -> Result<(), SendError> {
        Ok(())
    }

    fn take_stats(&mut self) -> Option<ZeroCopyStats> {
        None
    }
}
