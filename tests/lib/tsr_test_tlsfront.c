
/*
 * A TLS front for a plain test server: it accepts TLS on a loopback port
 * with the certificate of tsr_test_tls_certs() and passes the plaintext
 * both ways to a target port, so the fake Redis' faults (malformed
 * replies, a reply split into bytes, a reset in the middle of one,
 * silence) reach the client inside TLS records.  One process per
 * connection: a target's close closes the client's connection, a reset
 * from the target resets it.  The processes end with the test program.
 */


#include "tsr_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif


#define TSR_FRONT_CHUNK  16384


static void tsr_front_serve(int lfd, SSL_CTX *ctx, int target);
static void tsr_front_pair(int cfd, SSL_CTX *ctx, int target);
static void tsr_front_die_with_parent(void);


int
tsr_test_tlsfront_start(tsr_test_tlsfront_t *t, const char *dir,
    int target_port)
{
    int                 lfd, one;
    char                crt[PATH_MAX], key[PATH_MAX];
    pid_t               pid;
    SSL_CTX            *ctx;
    socklen_t           len;
    struct sockaddr_in  sin;

    memset(t, 0, sizeof(tsr_test_tlsfront_t));

    snprintf(crt, sizeof(crt), "%s/redis.crt", dir);
    snprintf(key, sizeof(key), "%s/redis.key", dir);

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL
        || SSL_CTX_use_certificate_chain_file(ctx, crt) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
    {
        fprintf(stderr, "tls front: no certificate in %s\n", dir);
        SSL_CTX_free(ctx);
        return -1;
    }

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd == -1) {
        SSL_CTX_free(ctx);
        return -1;
    }

    one = 1;
    (void) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sin);

    if (bind(lfd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(lfd, 128) != 0
        || getsockname(lfd, (struct sockaddr *) &sin, &len) != 0)
    {
        fprintf(stderr, "tls front: listen failed: %s\n", strerror(errno));
        (void) close(lfd);
        SSL_CTX_free(ctx);
        return -1;
    }

    t->port = ntohs(sin.sin_port);
    t->target = target_port;

    pid = fork();

    if (pid == -1) {
        (void) close(lfd);
        SSL_CTX_free(ctx);
        return -1;
    }

    if (pid == 0) {
        tsr_front_die_with_parent();
        tsr_front_serve(lfd, ctx, target_port);
        _exit(0);
    }

    (void) close(lfd);
    SSL_CTX_free(ctx);

    t->pid = pid;

    return 0;
}


int
tsr_test_tlsfront_stop(tsr_test_tlsfront_t *t)
{
    int  status;

    if (t->pid == 0) {
        return 0;
    }

    /* the connections' processes are in the front's group */

    (void) kill(-t->pid, SIGKILL);
    (void) kill(t->pid, SIGKILL);
    (void) waitpid(t->pid, &status, 0);

    t->pid = 0;

    return 0;
}


static void
tsr_front_die_with_parent(void)
{
#ifdef __linux__
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
}


static void
tsr_front_serve(int lfd, SSL_CTX *ctx, int target)
{
    int    cfd;
    pid_t  pid;

    (void) setpgid(0, 0);
    (void) signal(SIGPIPE, SIG_IGN);
    (void) signal(SIGCHLD, SIG_IGN);        /* no zombies to reap */

    for ( ;; ) {
        cfd = accept(lfd, NULL, NULL);

        if (cfd == -1) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }

            _exit(1);
        }

        pid = fork();

        if (pid == 0) {
            (void) close(lfd);
            tsr_front_die_with_parent();
            tsr_front_pair(cfd, ctx, target);
            _exit(0);
        }

        (void) close(cfd);
    }
}


/* one client: TLS on "cfd", plaintext to the target */

static void
tsr_front_pair(int cfd, SSL_CTX *ctx, int target)
{
    int                 sfd, n, rc;
    SSL                *ssl;
    struct linger       lg;
    struct pollfd       pfd[2];
    struct sockaddr_in  sin;
    unsigned char       buf[TSR_FRONT_CHUNK];

    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, cfd) != 1 || SSL_accept(ssl) != 1) {
        return;
    }

    sfd = socket(AF_INET, SOCK_STREAM, 0);
    if (sfd == -1) {
        return;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) target);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(sfd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        return;
    }

    for ( ;; ) {

        /* what OpenSSL has decrypted already is not on the socket */

        if (SSL_pending(ssl) == 0) {
            pfd[0].fd = cfd;
            pfd[0].events = POLLIN;
            pfd[1].fd = sfd;
            pfd[1].events = POLLIN;

            if (poll(pfd, 2, -1) == -1) {
                if (errno == EINTR) {
                    continue;
                }

                return;
            }

        } else {
            pfd[0].revents = POLLIN;
            pfd[1].revents = 0;
        }

        if (pfd[0].revents) {
            n = SSL_read(ssl, buf, sizeof(buf));

            if (n <= 0) {
                return;
            }

            if (send(sfd, buf, (size_t) n, MSG_NOSIGNAL) != n) {
                return;
            }
        }

        if (pfd[1].revents) {
            n = recv(sfd, buf, sizeof(buf), 0);

            if (n == -1 && errno == ECONNRESET) {
                /* a reset from the target: the client gets one too */
                lg.l_onoff = 1;
                lg.l_linger = 0;
                (void) setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg,
                                  sizeof(lg));
                (void) close(cfd);
                return;
            }

            if (n <= 0) {
                (void) SSL_shutdown(ssl);
                return;
            }

            /* each piece the target sent is a record of its own */

            rc = SSL_write(ssl, buf, n);

            if (rc != n) {
                return;
            }
        }
    }
}
