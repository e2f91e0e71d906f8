
/*
 * libFuzzer target for the store's handling of what Redis sends: a real
 * asynchronous store (the one nginx workers run) connects over a unix
 * socket to this program, which plays Redis with the input's bytes.
 * Nothing is mocked inside the store: hiredis' reader, the bounds on
 * replies (tsr_resp.h), the reply classification, deadlines, the ring
 * of commands awaiting replies and connection drops all run as in a
 * worker; only the clock is the target's, so that deadlines pass at once.
 *
 *   byte 0   what the store sends: 1 to 4 GETs (bits 0-1), a GETDEL
 *            (bit 2), a SET (bit 3), a DEL (bit 4); the first GET is
 *            cancelled (bit 5); the input answers the connection's
 *            setup (INFO) instead of the commands (bit 7)
 *   byte 1   how the bytes arrive: all at once (0) or in pieces of
 *            1 to 255 bytes, the store reading after each
 *   rest     the bytes "Redis" sends
 *
 * Each lookup must be answered exactly once (the cancelled one never),
 * with a documented code, a value only with TSR_OK and at most
 * TSR_MAX_VALUE bytes long; anything else aborts, as do sanitizer
 * reports.  Seeds: tests/fuzz/corpus/reply, written by the replay build.
 */


#include "tsr.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz.h"


#define FUZZ_GETS       6
#define FUZZ_TIMEOUT    50


typedef struct {
    int         done;               /* times "done" was called */
    int         rc;
    size_t      len;
} fuzz_result_t;


const char  *fuzz_name = "reply";

static int            fuzz_listen = -1;
static char           fuzz_path[108];
static char           fuzz_dir[32];
static uint64_t       fuzz_clock = 1000000;
static fuzz_result_t  fuzz_results[FUZZ_GETS];
static volatile unsigned  fuzz_sink;


static void fuzz_cleanup(void);
static int fuzz_watch(void *data, int fd, int readable, int writable);
static void fuzz_unwatch(void *data, int fd);
static void fuzz_timer(void *data, uint64_t ms);
static uint64_t fuzz_now(void *data);
static void fuzz_done(int rc, const uint8_t *val, size_t len, void *arg);
static int fuzz_accept(void);
static void fuzz_drain(int fd);
static void fuzz_send(tsr_store_t *st, int fd, const uint8_t *data,
    size_t size, size_t piece);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char                dir[] = "/tmp/tsr-fuzz-reply.XXXXXX";
    struct sockaddr_un  sun;

    (void) argc;
    (void) argv;

    /* the store writes to a peer that may have gone */
    (void) signal(SIGPIPE, SIG_IGN);

    if (mkdtemp(dir) == NULL) {
        return -1;
    }

    (void) snprintf(fuzz_path, sizeof(fuzz_path), "%s/redis.sock", dir);

    fuzz_listen = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fuzz_listen == -1) {
        return -1;
    }

    memset(&sun, 0, sizeof(struct sockaddr_un));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, fuzz_path, strlen(fuzz_path));

    if (bind(fuzz_listen, (struct sockaddr *) &sun, sizeof(sun)) != 0
        || listen(fuzz_listen, 16) != 0
        || fcntl(fuzz_listen, F_SETFL, O_NONBLOCK) != 0)
    {
        return -1;
    }

    memcpy(fuzz_dir, dir, sizeof(dir));
    (void) atexit(fuzz_cleanup);

    return 0;
}


static void
fuzz_cleanup(void)
{
    (void) unlink(fuzz_path);
    (void) rmdir(fuzz_dir);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     i, fd, gets, rc;
    size_t                  piece;
    uint8_t                 ops;
    tsr_req_t              *req[FUZZ_GETS];
    tsr_loop_t              loop;
    tsr_store_t            *st;
    tsr_store_conf_t        conf;
    tsr_store_async_conf_t  aconf;
    char                    err[256], key[32];

    static const char  pong[] = "+PONG\r\n";

    if (size < 2) {
        return 0;
    }

    ops = data[0];
    piece = data[1];
    data += 2;
    size -= 2;

    memset(fuzz_results, 0, sizeof(fuzz_results));
    memset(req, 0, sizeof(req));

    memset(&conf, 0, sizeof(tsr_store_conf_t));
    conf.unix_path = fuzz_path;
    conf.connect_timeout_ms = 100;
    conf.command_timeout_ms = 100;
    conf.backoff_min_ms = 1;
    conf.backoff_max_ms = 2;

    st = tsr_store_create(&conf, err, sizeof(err));
    if (st == NULL) {
        abort();
    }

    memset(&loop, 0, sizeof(tsr_loop_t));
    loop.watch = fuzz_watch;
    loop.unwatch = fuzz_unwatch;
    loop.timer = fuzz_timer;
    loop.now = fuzz_now;

    memset(&aconf, 0, sizeof(tsr_store_async_conf_t));
    aconf.max_inflight = 8;

    if (tsr_store_set_async(st, &loop, &aconf) != TSR_OK) {
        abort();
    }

    fd = fuzz_accept();
    if (fd == -1) {
        abort();
    }

    /* the store's INFO goes out; "+PONG" shows no version: assumed */

    tsr_store_on_write(st);
    fuzz_drain(fd);

    if (ops & 0x80) {
        fuzz_send(st, fd, data, size, piece);
        goto deadline;
    }

    if (write(fd, pong, sizeof(pong) - 1) != (ssize_t) sizeof(pong) - 1) {
        abort();
    }

    tsr_store_on_read(st);

    if (tsr_store_state(st) != TSR_STORE_STATE_UP) {
        abort();
    }

    /* the commands */

    gets = 1 + (ops & 3);

    for (i = 0; i < gets + 1 && i < FUZZ_GETS; i++) {
        if (i == gets && !(ops & 4)) {
            break;
        }

        (void) snprintf(key, sizeof(key), "tsr:s:fuzz:%d", i);

        req[i] = tsr_store_get_async(st, key, strlen(key), i == gets,
                                     FUZZ_TIMEOUT, fuzz_done,
                                     &fuzz_results[i]);
        if (req[i] == NULL) {
            abort();
        }
    }

    if (ops & 8) {
        (void) tsr_store_set(st, "tsr:s:fuzz:set", 14,
                             (const uint8_t *) "value", 5, 60000);
    }

    if (ops & 16) {
        (void) tsr_store_del(st, "tsr:s:fuzz:del", 14);
    }

    if (ops & 32) {
        tsr_store_cancel(req[0]);
        fuzz_results[0].done = -100;
    }

    tsr_store_on_write(st);
    fuzz_drain(fd);

    fuzz_send(st, fd, data, size, piece);

deadline:

    /* every deadline and the stall check pass */

    fuzz_clock += 10 * 60 * 1000;
    tsr_store_on_timer(st);

    for (i = 0; i < FUZZ_GETS; i++) {
        if (req[i] == NULL) {
            continue;
        }

        rc = fuzz_results[i].rc;

        if (fuzz_results[i].done == -100) {
            continue;
        }

        if (fuzz_results[i].done != 1) {
            abort();
        }

        if (rc != TSR_OK && rc != TSR_NOT_FOUND && rc != TSR_ETIMEDOUT
            && rc != TSR_ECONN && rc != TSR_ESERVER && rc != TSR_EPROTO
            && rc != TSR_ERROR)
        {
            abort();
        }
    }

    if (tsr_store_inflight(st) < 0) {
        abort();
    }

    tsr_store_destroy(st);
    close(fd);

    /* a reconnect after a drop left a connection nobody will use */

    while ((fd = accept(fuzz_listen, NULL, NULL)) != -1) {
        close(fd);
    }

    return 0;
}


static int
fuzz_watch(void *data, int fd, int readable, int writable)
{
    (void) data;
    (void) fd;
    (void) readable;
    (void) writable;

    return 0;
}


static void
fuzz_unwatch(void *data, int fd)
{
    (void) data;
    (void) fd;
}


static void
fuzz_timer(void *data, uint64_t ms)
{
    (void) data;
    (void) ms;
}


static uint64_t
fuzz_now(void *data)
{
    (void) data;

    return fuzz_clock;
}


static void
fuzz_done(int rc, const uint8_t *val, size_t len, void *arg)
{
    size_t          i;
    fuzz_result_t  *r = arg;

    if (r->done != 0) {
        /* twice, or after a cancel */
        abort();
    }

    if (rc == TSR_OK) {
        if (val == NULL || len > TSR_MAX_VALUE) {
            abort();
        }

        /* the value is readable for its whole length */
        for (i = 0; i < len; i++) {
            fuzz_sink += val[i];
        }

    } else if (val != NULL && len != 0) {
        abort();
    }

    r->done = 1;
    r->rc = rc;
    r->len = len;
}


/* the store's connection: a unix socket connects at once */

static int
fuzz_accept(void)
{
    int  fd, flags;

    fd = accept(fuzz_listen, NULL, NULL);
    if (fd == -1) {
        return -1;
    }

    flags = fcntl(fd, F_GETFL, 0);

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        close(fd);
        return -1;
    }

    return fd;
}


/* reads and forgets whatever the store sent */

static void
fuzz_drain(int fd)
{
    char     buf[4096];
    ssize_t  n;

    do {
        n = read(fd, buf, sizeof(buf));
    } while (n > 0 || (n == -1 && errno == EINTR));
}


/* the bytes, piece by piece, the store reading after each */

static void
fuzz_send(tsr_store_t *st, int fd, const uint8_t *data, size_t size,
    size_t piece)
{
    int      full;
    size_t   off, len;
    ssize_t  n;

    if (piece == 0) {
        piece = size;
    }

    full = 0;

    for (off = 0; off < size && full < 100; off += len) {
        len = (size - off < piece) ? size - off : piece;

        n = write(fd, data + off, len);

        if (n == -1 && errno == EINTR) {
            len = 0;
            continue;
        }

        if (n <= 0) {
            /* the store closed the connection, or its buffer is full */
            if (n == -1 && errno == EAGAIN) {
                tsr_store_on_read(st);
                full++;
                len = 0;
                continue;
            }

            break;
        }

        len = (size_t) n;

        tsr_store_on_read(st);
        fuzz_drain(fd);
    }
}


#ifdef TSR_FUZZ_REPLAY

static int fuzz_add(const char *dir, int *n, const char *name, uint8_t ops,
    uint8_t piece, const char *bytes, size_t len);


#define fuzz_reply(dir, n, name, ops, piece, s)                              \
    fuzz_add(dir, n, name, ops, piece, s, sizeof(s) - 1)


int
fuzz_write_seeds(const char *dir)
{
    int       n;
    size_t    i;
    char     *big;

    n = 0;

    if (fuzz_reply(dir, &n, "nil", 0, 0, "$-1\r\n") != 0
        || fuzz_reply(dir, &n, "value", 0, 0, "$5\r\nhello\r\n") != 0
        || fuzz_reply(dir, &n, "four_gets", 3, 0,
                      "$-1\r\n$1\r\na\r\n$-1\r\n$2\r\nbc\r\n") != 0
        || fuzz_reply(dir, &n, "getdel_set_del", 4 | 8 | 16, 0,
                      "$-1\r\n$3\r\nabc\r\n+OK\r\n:1\r\n") != 0
        || fuzz_reply(dir, &n, "getdel_unknown", 4, 0,
                      "$-1\r\n-ERR unknown command 'GETDEL'\r\n"
                      "$3\r\nabc\r\n") != 0
        || fuzz_reply(dir, &n, "split", 1, 1,
                      "$5\r\nhello\r\n$-1\r\n") != 0
        || fuzz_reply(dir, &n, "cancelled", 1 | 32, 3,
                      "$5\r\nhello\r\n$5\r\nworld\r\n") != 0
        || fuzz_reply(dir, &n, "wrong_types", 3, 0,
                      ":42\r\n*2\r\n$1\r\na\r\n:1\r\n+OK\r\n"
                      "-WRONGTYPE Operation against a key\r\n") != 0
        || fuzz_reply(dir, &n, "error", 0, 0, "-ERR no\r\n") != 0
        || fuzz_reply(dir, &n, "oom_set", 8, 0,
                      "$-1\r\n-OOM command not allowed\r\n") != 0
        || fuzz_reply(dir, &n, "nested", 0, 0,
                      "*2\r\n*1\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n") != 0
        || fuzz_reply(dir, &n, "huge_array", 0, 0,
                      "*2147483647\r\n:1\r\n:2\r\n") != 0
        || fuzz_reply(dir, &n, "huge_bulk", 0, 7,
                      "$2147483648\r\n0123456789abcdef") != 0
        || fuzz_reply(dir, &n, "garbage", 0, 0, "?what\r\n") != 0
        || fuzz_reply(dir, &n, "bad_length", 0, 0,
                      "$3\r\nabcdefgh\r\n") != 0
        || fuzz_reply(dir, &n, "unsolicited", 0, 0, "$-1\r\n:1\r\n") != 0
        || fuzz_reply(dir, &n, "setup_error", 0x80, 0,
                      "-NOAUTH Authentication required.\r\n") != 0
        || fuzz_reply(dir, &n, "setup_garbage", 0x80, 2, ":1\r\n$0\r\n")
           != 0)
    {
        return -1;
    }

    /* a value over the limit of 16 KiB */

    big = malloc(TSR_MAX_VALUE + 64);
    if (big == NULL) {
        return -1;
    }

    i = (size_t) snprintf(big, 32, "$%d\r\n", TSR_MAX_VALUE + 1);
    memset(big + i, 'v', TSR_MAX_VALUE + 1);
    i += TSR_MAX_VALUE + 1;
    memcpy(big + i, "\r\n", 2);
    i += 2;

    if (fuzz_add(dir, &n, "over_limit", 0, 0, big, i) != 0) {
        free(big);
        return -1;
    }

    free(big);

    return n;
}


static int
fuzz_add(const char *dir, int *n, const char *name, uint8_t ops,
    uint8_t piece, const char *bytes, size_t len)
{
    int       rc;
    uint8_t  *buf;

    buf = malloc(len + 2);
    if (buf == NULL) {
        return -1;
    }

    buf[0] = ops;
    buf[1] = piece;
    memcpy(buf + 2, bytes, len);

    rc = fuzz_seed(dir, name, buf, len + 2);

    free(buf);

    if (rc == 0) {
        (*n)++;
    }

    return rc;
}

#endif
