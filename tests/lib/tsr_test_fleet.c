
/*
 * Test helpers, a fleet: two nginx nodes (http or stream, one worker
 * each, the built modules) sharing one Redis address and one fleet key,
 * a TLS client with the usual options, and alternating load between the
 * nodes with the counts the cross-node tests assert on.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "tsr_test.h"


int
tsr_test_connect(int port, int version, int flags, SSL_SESSION *offer,
    SSL_SESSION **out, int *reused)
{
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.tickets = (flags & TSR_TEST_TICKETS) != 0;
    opts.offer = offer;
    opts.request = flags & TSR_TEST_REQUEST;
    opts.timeout_ms = 5000;

    *reused = 0;

    return tsr_test_tls_once(port, &opts, out, reused);
}


int
tsr_test_fleet_init(tsr_test_fleet_t *f, const char *tag, int stream)
{
    char                      name[64];
    unsigned char             key[32];
    static const char *const  cns[] = { "one.test", NULL };

    memset(f, 0, sizeof(tsr_test_fleet_t));

    f->stream = stream;
    f->settle_ms = 100;

    snprintf(name, sizeof(name), "%s-a", tag);
    if (tsr_test_nginx_init(&f->node[0], name, cns) != 0) {
        return -1;
    }

    snprintf(name, sizeof(name), "%s-b", tag);
    if (tsr_test_nginx_init(&f->node[1], name, NULL) != 0) {
        return -1;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(f->key_file, sizeof(f->key_file), "%s/fleet.key",
             f->node[0].dir);

    if (tsr_test_write_file(f->key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    f->port[0] = tsr_test_free_port();
    f->port[1] = tsr_test_free_port();

    if (f->port[0] == -1 || f->port[1] == -1 || f->port[0] == f->port[1]) {
        return -1;
    }

    return 0;
}


int
tsr_test_fleet_write(tsr_test_fleet_t *f, const char *address,
    const char *extra)
{
    int          i, len;
    char         body[8192];
    const char  *dir;

    dir = f->node[0].dir;

    for (i = 0; i < 2; i++) {
        len = snprintf(body, sizeof(body),
                 "worker_processes 1;\n"
                 "%s {\n"
                 "%s"
                 "  server {\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    ssl_certificate %s/one.test.crt;\n"
                 "    ssl_certificate_key %s/one.test.key;\n"
                 "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                 "    ssl_session_tickets off;\n"
                 "    ssl_session_timeout 10m;\n"
                 "    ssl_session_redis %s;\n"
                 "    ssl_session_redis_fleet_key %s;\n"
                 "%s"
                 "    %s\n"
                 "  }\n"
                 "}\n",
                 f->stream ? "stream" : "http",
                 f->stream ? "" : "  access_log off;\n",
                 f->port[i], dir, dir, address, f->key_file,
                 extra != NULL ? extra : "",
                 f->stream ? "return \"ok\\n\";"
                           : "location / { return 200 \"ok\\n\"; }");

        if (len < 0 || (size_t) len >= sizeof(body)) {
            return -1;
        }

        if (tsr_test_nginx_write_conf(&f->node[i], f->stream, "info", body)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


int
tsr_test_nginx_start_serving(tsr_test_nginx_t *n, int port, int flags,
    int settle_ms, int *running)
{
    int  i, reused;

    if (truncate(n->error_log, 0) != 0 && errno != ENOENT) {
        return -1;
    }

    if (tsr_test_nginx_start(n) != 0) {
        return -1;
    }

    *running = 1;

    for (i = 0; i < 50; i++) {
        if (tsr_test_connect(port, TSR_TEST_TLS13, flags, NULL, NULL,
                             &reused)
            == 0)
        {
            /* the worker connects to Redis on its first lookup */
            tsr_test_sleep_ms(settle_ms);
            return 0;
        }

        tsr_test_sleep_ms(100);
    }

    return -1;
}


int
tsr_test_fleet_start_node(tsr_test_fleet_t *f, int i)
{
    return tsr_test_nginx_start_serving(&f->node[i], f->port[i],
                                        f->stream ? TSR_TEST_STREAM
                                                  : TSR_TEST_HTTP,
                                        f->settle_ms, &f->running[i]);
}


int
tsr_test_fleet_start(tsr_test_fleet_t *f)
{
    if (tsr_test_fleet_start_node(f, 0) != 0
        || tsr_test_fleet_start_node(f, 1) != 0)
    {
        return -1;
    }

    return 0;
}


void
tsr_test_fleet_stop(tsr_test_fleet_t *f)
{
    int  i;

    for (i = 0; i < 2; i++) {
        if (f->running[i]) {
            (void) tsr_test_nginx_stop(&f->node[i]);
            f->running[i] = 0;
        }
    }
}


int
tsr_test_fleet_log_problems(tsr_test_fleet_t *f, int i)
{
    int  problems;

    problems = tsr_test_nginx_log_problems(&f->node[i]);

    if (problems != 0) {
        fprintf(stderr, "%d [alert]/[crit]/[emerg] lines in %s\n", problems,
                f->node[i].error_log);
    }

    return problems;
}


int
tsr_test_fleet_connect(tsr_test_fleet_t *f, int i, int version,
    SSL_SESSION *offer, SSL_SESSION **out, int *reused)
{
    return tsr_test_connect(f->port[i], version,
                            f->stream ? TSR_TEST_STREAM : TSR_TEST_HTTP,
                            offer, out, reused);
}


void
tsr_test_fleet_load_step(tsr_test_fleet_t *f, tsr_test_load_t *l,
    int version, int ended)
{
    int           rc, reused;
    long long     now;
    SSL_SESSION  *next;

    next = NULL;
    reused = 0;

    rc = tsr_test_fleet_connect(f, l->handshakes % 2, version, l->offer,
                                &next, &reused);

    l->handshakes++;
    now = tsr_test_now_ms();

    if (rc != 0) {
        l->failed++;
    }

    if (l->offer != NULL) {
        l->offered++;
        l->resumed += reused;
        l->offered_after++;

        if (!ended) {
            l->during++;
            l->resumed_during += reused;
        }

        if (!reused && l->event != 0 && now >= l->event) {
            l->last_miss = now - l->event;
            l->offered_after = 0;
        }

        SSL_SESSION_free(l->offer);
    }

    l->offer = next;
}


void
tsr_test_load_done(tsr_test_load_t *l)
{
    if (l->offer != NULL) {
        SSL_SESSION_free(l->offer);
        l->offer = NULL;
    }
}


int
tsr_test_fleet_cross_node(tsr_test_fleet_t *f, tsr_test_load_t *l,
    int version, int n, int max_failed, const char *what)
{
    int        i;
    long long  start;

    memset(l, 0, sizeof(tsr_test_load_t));

    if (tsr_test_fleet_start(f) != 0) {
        tsr_test_fleet_stop(f);
        return -1;
    }

    start = tsr_test_now_ms();

    for (i = 0; i < n && l->failed < max_failed; i++) {
        tsr_test_fleet_load_step(f, l, version, 1);
    }

    printf("\n    TLSv1.%d, %s: %d of %d offered sessions resumed "
           "on the other node (%.2f%%), %d handshakes in %lld ms ",
           version == TSR_TEST_TLS13 ? 3 : 2, what, l->resumed, l->offered,
           l->offered > 0 ? 100.0 * l->resumed / l->offered : 0.0,
           l->handshakes, tsr_test_now_ms() - start);

    tsr_test_load_done(l);
    tsr_test_fleet_stop(f);

    return 0;
}
