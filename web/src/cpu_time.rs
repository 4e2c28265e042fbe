//! CPU time a future uses: this thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) read
//! around each poll, so time spent waiting (on PostgreSQL, SQS, another task) is not
//! counted, and a request that moves between worker threads is counted on each.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use cpu_time::ThreadTime;

pin_project_lite::pin_project! {
    /// `future`, answering with its output and the CPU time its polls took.
    pub struct CpuTimed<F> {
        #[pin]
        future: F,
        spent: Duration,
    }
}

pub fn measure<F: Future>(future: F) -> CpuTimed<F> {
    CpuTimed {
        future,
        spent: Duration::ZERO,
    }
}

impl<F: Future> Future for CpuTimed<F> {
    type Output = (F::Output, Duration);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let started = ThreadTime::now();
        let poll = this.future.poll(cx);
        *this.spent += started.elapsed();
        poll.map(|output| (output, *this.spent))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn counts_work_not_waiting() {
        let ((), waited) = super::measure(tokio::time::sleep(Duration::from_millis(50))).await;
        assert!(
            waited < Duration::from_millis(20),
            "a sleep is not CPU: {waited:?}"
        );
        let (sum, worked) = super::measure(async {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(30) {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            x
        })
        .await;
        assert!(sum > 0);
        assert!(
            worked >= Duration::from_millis(20),
            "a busy loop is: {worked:?}"
        );
    }
}
