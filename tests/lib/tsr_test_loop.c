
/*
 * A poll() event loop driving one asynchronous store in tests: the
 * sockets the store watches, its single timer and a monotonic clock.
 * Write events are posted on watch() as nginx's glue does.  It checks
 * the store's side of the contract a little: sockets unwatched only
 * when watched, one socket at a time unless told otherwise, no posted
 * event spinning.
 */


#include "tsr_test.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>


#define TSR_TEST_LOOP_SPIN  1000


static tsr_test_loop_fd_t *tsr_test_loop_find(tsr_test_loop_t *tl, int fd);
static void tsr_test_loop_posted(tsr_test_loop_t *tl);
static int tsr_test_loop_watch(void *data, int fd, int readable,
    int writable);
static void tsr_test_loop_unwatch(void *data, int fd);
static void tsr_test_loop_timer(void *data, uint64_t ms);
static uint64_t tsr_test_loop_now(void *data);


void
tsr_test_loop_init(tsr_test_loop_t *tl, tsr_loop_t *loop)
{
    int  i;

    memset(tl, 0, sizeof(tsr_test_loop_t));
    tl->fd = -1;

    for (i = 0; i < TSR_TEST_LOOP_FDS; i++) {
        tl->fds[i].fd = -1;
    }

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
    int                  i, n, fd;
    nfds_t               nfds;
    long long            now, end, wait;
    struct pollfd        pfd[TSR_TEST_LOOP_FDS];
    tsr_test_loop_fd_t  *e;

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

        for (i = 0; i < TSR_TEST_LOOP_FDS; i++) {
            e = &tl->fds[i];

            if (e->fd == -1 || !(e->readable || e->writable)) {
                continue;
            }

            pfd[nfds].fd = e->fd;
            pfd[nfds].events = (e->readable ? POLLIN : 0)
                               | (e->writable ? POLLOUT : 0);
            pfd[nfds].revents = 0;
            nfds++;
        }

        n = poll(pfd, nfds, (int) wait);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "poll() failed: %s\n", strerror(errno));
            return -1;
        }

        for (i = 0; n > 0 && i < (int) nfds && tl->store != NULL; i++) {
            fd = pfd[i].fd;

            /* an earlier event may have closed the socket meanwhile */

            e = tsr_test_loop_find(tl, fd);

            if (e != NULL && e->readable
                && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            {
                tsr_store_on_read_fd(tl->store, fd);
            }

            /* reading may have closed the socket or ended the interest */

            e = tsr_test_loop_find(tl, fd);

            if (e != NULL && e->writable
                && (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR)))
            {
                tsr_store_on_write_fd(tl->store, fd);
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


static tsr_test_loop_fd_t *
tsr_test_loop_find(tsr_test_loop_t *tl, int fd)
{
    int  i;

    for (i = 0; i < TSR_TEST_LOOP_FDS; i++) {
        if (tl->fds[i].fd == fd && fd != -1) {
            return &tl->fds[i];
        }
    }

    return NULL;
}


/* as ngx_event_process_posted(): events posted meanwhile run too */

static void
tsr_test_loop_posted(tsr_test_loop_t *tl)
{
    int                  i, rounds, fd;
    tsr_test_loop_fd_t  *e;

    for (rounds = 0; tl->posted; rounds++) {
        if (rounds == TSR_TEST_LOOP_SPIN) {
            fprintf(stderr, "a posted write event keeps posting itself\n");
            tl->misuses++;
            tl->posted = 0;

            for (i = 0; i < TSR_TEST_LOOP_FDS; i++) {
                tl->fds[i].posted = 0;
            }

            return;
        }

        tl->posted = 0;

        for (i = 0; i < TSR_TEST_LOOP_FDS; i++) {
            e = &tl->fds[i];

            if (e->fd == -1 || !e->posted) {
                continue;
            }

            e->posted = 0;
            fd = e->fd;

            if (tl->store != NULL) {
                tsr_store_on_write_fd(tl->store, fd);
            }
        }
    }
}


static int
tsr_test_loop_watch(void *data, int fd, int readable, int writable)
{
    tsr_test_loop_t  *tl = data;

    int                  i;
    tsr_test_loop_fd_t  *e;

    tl->watches++;

    e = tsr_test_loop_find(tl, fd);

    if (e == NULL) {
        if (tl->nfds > 0 && !tl->multi) {
            tl->misuses++;
        }

        for (i = 0; i < TSR_TEST_LOOP_FDS && tl->fds[i].fd != -1; i++) {
            /* void */
        }

        if (i == TSR_TEST_LOOP_FDS) {
            fprintf(stderr, "more than %d sockets watched\n",
                    TSR_TEST_LOOP_FDS);
            tl->misuses++;
            return -1;
        }

        e = &tl->fds[i];
        e->fd = fd;
        e->posted = 0;
        tl->nfds++;

        if (tl->nfds > tl->max_fds) {
            tl->max_fds = tl->nfds;
        }
    }

    e->readable = (readable != 0);
    e->writable = (writable != 0);

    tl->fd = fd;
    tl->readable = e->readable;
    tl->writable = e->writable;

    if (tl->fail_watch) {
        return -1;
    }

    if (writable) {
        e->posted = 1;
        tl->posted = 1;
    }

    return 0;
}


static void
tsr_test_loop_unwatch(void *data, int fd)
{
    tsr_test_loop_t  *tl = data;

    int                  i;
    tsr_test_loop_fd_t  *e;

    tl->unwatches++;

    e = tsr_test_loop_find(tl, fd);

    if (e == NULL) {
        tl->misuses++;
        return;
    }

    e->fd = -1;
    e->readable = 0;
    e->writable = 0;
    e->posted = 0;
    tl->nfds--;

    /* "fd" shows another socket still watched, or -1 */

    tl->fd = -1;
    tl->readable = 0;
    tl->writable = 0;

    for (i = 0; i < TSR_TEST_LOOP_FDS; i++) {
        if (tl->fds[i].fd != -1) {
            tl->fd = tl->fds[i].fd;
            tl->readable = tl->fds[i].readable;
            tl->writable = tl->fds[i].writable;
            break;
        }
    }
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
