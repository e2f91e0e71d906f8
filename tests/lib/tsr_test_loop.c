
/*
 * A poll() event loop driving one asynchronous store in tests: the
 * socket the store watches, its single timer and a monotonic clock.
 * Write events are posted on watch() as nginx's glue does.  It checks
 * the store's side of the contract a little: one socket at a time,
 * unwatched before another one is watched, no posted event spinning.
 */


#include "tsr_test.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>


#define TSR_TEST_LOOP_SPIN  1000


static void tsr_test_loop_posted(tsr_test_loop_t *tl);
static int tsr_test_loop_watch(void *data, int fd, int readable,
    int writable);
static void tsr_test_loop_unwatch(void *data, int fd);
static void tsr_test_loop_timer(void *data, uint64_t ms);
static uint64_t tsr_test_loop_now(void *data);


void
tsr_test_loop_init(tsr_test_loop_t *tl, tsr_loop_t *loop)
{
    memset(tl, 0, sizeof(tsr_test_loop_t));
    tl->fd = -1;

    memset(loop, 0, sizeof(tsr_loop_t));
    loop->data = tl;
    loop->watch = tsr_test_loop_watch;
    loop->unwatch = tsr_test_loop_unwatch;
    loop->timer = tsr_test_loop_timer;
    loop->now = tsr_test_loop_now;
}


int
tsr_test_loop_run(tsr_test_loop_t *tl, int ms, const int *stop)
{
    int            n, fd;
    nfds_t         nfds;
    long long      now, end, wait;
    struct pollfd  pfd;

    end = tsr_test_now_ms() + ms;

    for ( ;; ) {
        if (stop != NULL && *stop) {
            return 0;
        }

        now = tsr_test_now_ms();

        if (now >= end) {
            return 0;
        }

        wait = end - now;

        if (tl->timer_at != 0 && tl->timer_at - now < wait) {
            wait = (tl->timer_at > now) ? tl->timer_at - now : 0;
        }

        /* posted from outside the loop (a test's own call) */
        if (tl->posted) {
            wait = 0;
        }

        /* no interest: leave the socket out, or POLLHUP would spin */

        nfds = 0;
        pfd.fd = tl->fd;
        pfd.events = 0;
        pfd.revents = 0;

        if (tl->fd != -1 && (tl->readable || tl->writable)) {
            pfd.events = (tl->readable ? POLLIN : 0)
                         | (tl->writable ? POLLOUT : 0);
            nfds = 1;
        }

        n = poll(&pfd, nfds, (int) wait);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "poll() failed: %s\n", strerror(errno));
            return -1;
        }

        if (n > 0 && tl->store != NULL) {
            fd = pfd.fd;

            if (tl->readable
                && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            {
                tsr_store_on_read(tl->store);
            }

            /* reading may have closed the socket or ended the interest */

            if (tl->fd == fd && tl->writable
                && (pfd.revents & (POLLOUT | POLLHUP | POLLERR)))
            {
                tsr_store_on_write(tl->store);
            }
        }

        if (tl->timer_at != 0 && tsr_test_now_ms() >= tl->timer_at) {
            tl->timer_at = 0;

            if (tl->store != NULL) {
                tsr_store_on_timer(tl->store);
            }
        }

        tsr_test_loop_posted(tl);
    }
}


/* as ngx_event_process_posted(): events posted meanwhile run too */

static void
tsr_test_loop_posted(tsr_test_loop_t *tl)
{
    int  rounds;

    for (rounds = 0; tl->posted; rounds++) {
        if (rounds == TSR_TEST_LOOP_SPIN) {
            fprintf(stderr, "a posted write event keeps posting itself\n");
            tl->misuses++;
            tl->posted = 0;
            return;
        }

        tl->posted = 0;

        if (tl->store != NULL && tl->fd != -1) {
            tsr_store_on_write(tl->store);
        }
    }
}


static int
tsr_test_loop_watch(void *data, int fd, int readable, int writable)
{
    tsr_test_loop_t  *tl = data;

    tl->watches++;

    if (tl->fd != -1 && tl->fd != fd) {
        tl->misuses++;
    }

    tl->fd = fd;
    tl->readable = (readable != 0);
    tl->writable = (writable != 0);

    if (tl->fail_watch) {
        return -1;
    }

    if (writable) {
        tl->posted = 1;
    }

    return 0;
}


static void
tsr_test_loop_unwatch(void *data, int fd)
{
    tsr_test_loop_t  *tl = data;

    tl->unwatches++;

    if (fd != tl->fd) {
        tl->misuses++;
        return;
    }

    tl->fd = -1;
    tl->readable = 0;
    tl->writable = 0;
    tl->posted = 0;
}


static void
tsr_test_loop_timer(void *data, uint64_t ms)
{
    tsr_test_loop_t  *tl = data;

    tl->timers++;
    tl->timer_at = (ms == 0) ? 0 : tsr_test_now_ms() + (long long) ms;
}


static uint64_t
tsr_test_loop_now(void *data)
{
    return (uint64_t) tsr_test_now_ms();
}
