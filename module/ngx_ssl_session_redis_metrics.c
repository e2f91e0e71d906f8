
/*
 * Metrics: the shared memory zone of a subsystem, what each worker
 * publishes into it, and the status page, rendered from a table of
 * families in Prometheus' text format.
 */


#include "ngx_ssl_session_redis_glue.h"


/* one subsystem's metrics, added up over the workers' slots */
typedef struct {
    const char                            *subsystem;
    ngx_uint_t                             n;
    ngx_str_t                             *names;  /* escaped for labels */
    ngx_uint_t                            *first;  /* server of that name */
    ngx_ssl_session_redis_worker_stats_t   w;
    ngx_ssl_session_redis_server_stats_t  *tot;
    ngx_msec_t                             timeout;
    uint64_t                               down;       /* stores */
    uint64_t                               key_age;    /* seconds */
    uint64_t                               issue_left; /* seconds */
} ngx_ssl_session_redis_sum_t;


/* a label's value and where its sample is, in the sum */
typedef struct {
    const char                            *value;
    size_t                                 offset;
} ngx_ssl_session_redis_label_t;


typedef struct ngx_ssl_session_redis_family_s  ngx_ssl_session_redis_family_t;

typedef void (*ngx_ssl_session_redis_render_pt)(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);

/*
 * A family of the status page: "render" writes its HELP, TYPE and samples,
 * taken at "offset" (in a server's tsr_ssl_stats_t for the per-server
 * families, in the sum otherwise), or one per label value of "labels".
 */
struct ngx_ssl_session_redis_family_s {
    const char                            *name;
    const char                            *type;
    const char                            *help;
    ngx_ssl_session_redis_render_pt        render;
    size_t                                 offset;
    const char                            *label;
    const ngx_ssl_session_redis_label_t   *labels;
};


static size_t ngx_ssl_session_redis_slot_size(ngx_uint_t nservers);
static size_t ngx_ssl_session_redis_zone_size(ngx_uint_t nservers);
static ngx_int_t ngx_ssl_session_redis_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_ssl_session_redis_publish(
    ngx_ssl_session_redis_main_conf_t *rmcf);
static void ngx_ssl_session_redis_publish_handler(ngx_event_t *ev);
static ngx_int_t ngx_ssl_session_redis_sum(ngx_pool_t *pool,
    ngx_shm_zone_t *zone, const char *subsystem,
    ngx_ssl_session_redis_sum_t *sum);
static u_char *ngx_ssl_session_redis_seconds(u_char *p, u_char *last,
    uint64_t us);
static ngx_str_t ngx_ssl_session_redis_openssl_version(void);
static ngx_chain_t *ngx_ssl_session_redis_render(ngx_pool_t *pool,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_family(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f);
static void ngx_ssl_session_redis_render_lookups(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_render_server(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_render_value(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_render_labels(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_render_ring(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_render_latency(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static void ngx_ssl_session_redis_render_build_info(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static ngx_shm_zone_t *ngx_ssl_session_redis_find_zone(const char *name);


ngx_int_t
ngx_ssl_session_redis_metrics_zone(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *zone, void *tag)
{
    size_t                         size;
    uint32_t                       crc;
    SSL_CTX                      **ctxp;
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_ssl_session_redis_ctx_t   *ctxd;
    size_t                         layout[4];

    /*
     * The zone, and with it the totals, is kept across a reload while
     * the servers stay the same, in the same order: its name carries
     * their hash.  Other servers mean other series, in a new zone; so
     * does another layout (a reload into a newer module).
     */

    ngx_crc32_init(crc);

    layout[0] = sizeof(ngx_ssl_session_redis_worker_stats_t);
    layout[1] = sizeof(ngx_ssl_session_redis_server_stats_t);
    layout[2] = sizeof(ngx_ssl_session_redis_gauges_t);
    layout[3] = sizeof(ngx_ssl_session_redis_shm_t);
    ngx_crc32_update(&crc, (u_char *) layout, sizeof(layout));

    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < rmcf->ctxs.nelts; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        ngx_crc32_update(&crc, ctxd->name.data, ctxd->name.len);

        /* a separator: names are not NUL-terminated */
        ngx_crc32_update(&crc, (u_char *) "\n", 1);
    }

    ngx_crc32_final(crc);

    name.len = ngx_strlen(zone) + 1 + 8;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(name.data, "%s:%08xD", zone, crc);

    size = ngx_ssl_session_redis_zone_size(rmcf->ctxs.nelts);

    /* room for the slab pool's own pages */
    size = ngx_align(size, ngx_pagesize) + 8 * ngx_pagesize;

    rmcf->zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (rmcf->zone == NULL) {
        return NGX_ERROR;
    }

    rmcf->zone->init = ngx_ssl_session_redis_init_zone;
    rmcf->zone->data = rmcf;

    return NGX_OK;
}


void
ngx_ssl_session_redis_metrics_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    if (rmcf->zone != NULL) {
        rmcf->publish.data = &ngx_ssl_session_redis_dumb;
        rmcf->publish.handler = ngx_ssl_session_redis_publish_handler;
        rmcf->publish.log = cycle->log;
        rmcf->publish.cancelable = 1;

        ngx_add_timer(&rmcf->publish, 1000);
    }
}


static size_t
ngx_ssl_session_redis_slot_size(ngx_uint_t nservers)
{
    return ngx_align(sizeof(ngx_ssl_session_redis_worker_stats_t)
                     + nservers
                       * sizeof(ngx_ssl_session_redis_server_stats_t), 8);
}


static size_t
ngx_ssl_session_redis_zone_size(ngx_uint_t nservers)
{
    return sizeof(ngx_ssl_session_redis_shm_t)
           + nservers * NGX_SSL_SESSION_REDIS_NAME_LEN
           + ngx_ssl_session_redis_slot_size(nservers)
           + NGX_SSL_SESSION_REDIS_SLOTS
             * sizeof(ngx_ssl_session_redis_gauges_t);
}


/*
 * The zone holds the server names (so that the other subsystem's status
 * handler can read them), the totals and the gauge slots.  A zone kept
 * across a reload (same name: the same servers) is kept as it is: the
 * old workers still add to it while they finish, the new ones go on
 * from there.
 */

static ngx_int_t
ngx_ssl_session_redis_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf = zone->data;

    u_char                        *names;
    size_t                         size, skip;
    SSL_CTX                      **ctxp;
    ngx_msec_t                     timeout;
    ngx_uint_t                     i, n;
    ngx_slab_pool_t               *shpool;
    ngx_ssl_session_redis_shm_t   *shm;
    ngx_ssl_session_redis_ctx_t   *ctxd;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    n = rmcf->ctxs.nelts;

    timeout = 0;
    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < n; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        timeout = ngx_max(timeout, ctxd->conf->timeout);
    }

    shm = data;

    if (shm != NULL && shm->nservers == n) {
        shm->timeout = timeout;
        zone->data = shm;
        return NGX_OK;
    }

    size = ngx_ssl_session_redis_zone_size(n);

    shm = ngx_slab_calloc(shpool, size);
    if (shm == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shm;
    shm->nservers = n;
    shm->timeout = timeout;

    names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);

    for (i = 0; i < n; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);

        /*
         * a name that does not fit keeps its end: a stream block's
         * "<file>:<line>" is told apart by its line, not by its directory
         */
        skip = 0;

        if (ctxd->name.len >= NGX_SSL_SESSION_REDIS_NAME_LEN) {
            skip = ctxd->name.len - (NGX_SSL_SESSION_REDIS_NAME_LEN - 1);
        }

        ngx_cpystrn(names + i * NGX_SSL_SESSION_REDIS_NAME_LEN,
                    ctxd->name.data + skip,
                    ctxd->name.len - skip + 1);
    }

    zone->data = shm;

    return NGX_OK;
}


static void
ngx_ssl_session_redis_publish(ngx_ssl_session_redis_main_conf_t *rmcf)
{
    u_char                                *slot, *names;
    size_t                                 k, size;
    uint64_t                              *tot, *cur, *last;
    SSL_CTX                              **ctxp;
    ngx_uint_t                             i, state, warn;
    ngx_slab_pool_t                       *shpool;
    ngx_ssl_session_redis_gauges_t        *g;
    tsr_store_stats_t                      ss;
    tsr_tickets_info_t                     ti;
    tsr_tickets_stats_t                    ts;
    ngx_ssl_session_redis_shm_t           *shm;
    ngx_ssl_session_redis_ctx_t           *ctxd;
    ngx_ssl_session_redis_store_t        **rsp;
    ngx_ssl_session_redis_tickets_t      **tkp;
    ngx_ssl_session_redis_worker_stats_t   w;
    ngx_ssl_session_redis_server_stats_t  *sv;

    if (rmcf->zone == NULL || rmcf->zone->data == NULL) {
        return;
    }

    shm = rmcf->zone->data;
    shpool = (ngx_slab_pool_t *) rmcf->zone->shm.addr;
    size = ngx_ssl_session_redis_slot_size(shm->nservers);

    /* what was added so far, then what there is now */

    if (rmcf->published == NULL) {
        rmcf->published = ngx_calloc(2 * size, ngx_cycle->log);
        if (rmcf->published == NULL) {
            return;
        }
    }

    slot = rmcf->published + size;
    ngx_memzero(slot, size);

    ngx_memzero(&w, sizeof(ngx_ssl_session_redis_worker_stats_t));

    rsp = rmcf->stores.elts;

    for (i = 0; i < rmcf->stores.nelts; i++) {
        if (rsp[i]->store == NULL) {
            continue;
        }

        w.stores++;

        state = tsr_store_state(rsp[i]->store);
        w.up += (state == TSR_STORE_STATE_UP);
        w.connecting += (state == TSR_STORE_STATE_CONNECTING);
        w.breaker_open += (state == TSR_STORE_STATE_BREAKER_OPEN);
        w.inflight += tsr_store_inflight(rsp[i]->store);

        tsr_store_stats(rsp[i]->store, &ss);

        w.store.gets += ss.gets;
        w.store.hits += ss.hits;
        w.store.misses += ss.misses;
        w.store.sets += ss.sets;
        w.store.dels += ss.dels;
        w.store.errors += ss.errors;
        w.store.bad_values += ss.bad_values;
        w.store.connects += ss.connects;
        w.store.refused += ss.refused;
        w.store.dropped += ss.dropped;
        w.store.timeouts += ss.timeouts;
        w.store.breaker_opened += ss.breaker_opened;
        w.store.latency_sum_us += ss.latency_sum_us;
        w.store.commands += ss.commands;
        w.store.writes += ss.writes;
        w.store.replies += ss.replies;
        w.store.reads += ss.reads;

        for (k = 0; k < TSR_STORE_LATENCY_BUCKETS; k++) {
            w.store.latency[k] += ss.latency[k];
        }
    }

    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        if (tkp[i]->tickets == NULL) {
            continue;
        }

        tsr_tickets_stats(tkp[i]->tickets, &ts);

        w.tickets.issued += ts.issued;
        w.tickets.not_issued += ts.not_issued;
        w.tickets.decrypted += ts.decrypted;
        w.tickets.renewed += ts.renewed;
        w.tickets.unknown_key += ts.unknown_key;
        w.tickets.loads += ts.loads;
        w.tickets.load_errors += ts.load_errors;

        /* at start and by worker 0's rotations */
        w.tickets.rotations += ts.rotations;

        /* the ring closest to trouble: the oldest, the first to end */

        if (tsr_tickets_info(tkp[i]->tickets, &ti) != TSR_OK) {
            continue;
        }

        w.rings++;

        if (w.rotated_at == 0 || ti.rotated_at_ms < w.rotated_at) {
            w.rotated_at = ti.rotated_at_ms;
        }

        for (k = 0; k < ti.nkeys; k++) {
            if (ti.keys[k].role == TSR_TICKETS_CURRENT
                && (w.encrypt_until == 0
                    || ti.keys[k].encrypt_until_ms < w.encrypt_until))
            {
                w.encrypt_until = ti.keys[k].encrypt_until_ms;
            }
        }
    }

    ngx_memcpy(slot, &w, sizeof(ngx_ssl_session_redis_worker_stats_t));

    sv = (ngx_ssl_session_redis_server_stats_t *)
             (slot + sizeof(ngx_ssl_session_redis_worker_stats_t));
    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < rmcf->ctxs.nelts && i < shm->nservers; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        if (ctxd == NULL || ctxd->binding == NULL) {
            continue;
        }

        ngx_memcpy(sv[i].outcome, ctxd->outcome, sizeof(ctxd->outcome));
        tsr_ssl_stats(ctxd->binding, &sv[i].ssl);
    }

    names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);
    tot = (uint64_t *) (names + shm->nservers
                                * NGX_SSL_SESSION_REDIS_NAME_LEN);
    g = (ngx_ssl_session_redis_gauges_t *) ((u_char *) tot + size);

    cur = (uint64_t *) slot;
    last = (uint64_t *) rmcf->published;
    warn = 0;

    ngx_shmtx_lock(&shpool->mutex);

    /* gauges as well, unused there: all words are counted alike */

    for (k = 0; k < size / sizeof(uint64_t); k++) {
        tot[k] += cur[k] - last[k];
    }

    if (rmcf->slot == 0 && !rmcf->no_slot) {

        /* its own from before, a free one, or one whose worker is gone */

        for (i = 0; i < NGX_SSL_SESSION_REDIS_SLOTS; i++) {
            if (g[i].pid == ngx_pid) {
                break;
            }
        }

        if (i == NGX_SSL_SESSION_REDIS_SLOTS) {
            for (i = 0; i < NGX_SSL_SESSION_REDIS_SLOTS; i++) {
                if (g[i].pid == 0
                    || (kill(g[i].pid, 0) == -1 && ngx_errno == NGX_ESRCH))
                {
                    break;
                }
            }
        }

        if (i < NGX_SSL_SESSION_REDIS_SLOTS) {
            rmcf->slot = i + 1;
            g[i].pid = ngx_pid;

        } else {
            rmcf->no_slot = 1;
            warn = 1;
        }
    }

    if (rmcf->slot != 0) {
        g += rmcf->slot - 1;
        g->stores = w.stores;
        g->up = w.up;
        g->connecting = w.connecting;
        g->breaker_open = w.breaker_open;
        g->inflight = w.inflight;
        g->rings = w.rings;
        g->rotated_at = w.rotated_at;
        g->encrypt_until = w.encrypt_until;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_memcpy(rmcf->published, slot, size);

    if (warn) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ssl_session_redis: all %d metrics slots are taken: "
                      "the gauges of worker %P are left out (its counters "
                      "are not)", NGX_SSL_SESSION_REDIS_SLOTS, ngx_pid);
    }
}


/*
 * A worker that exits adds what is left to the totals and frees its
 * gauge slot.
 */

void
ngx_ssl_session_redis_retire(ngx_ssl_session_redis_main_conf_t *rmcf)
{
    u_char                          *names;
    ngx_slab_pool_t                 *shpool;
    ngx_ssl_session_redis_shm_t     *shm;
    ngx_ssl_session_redis_gauges_t  *g;

    if (rmcf->zone == NULL || rmcf->zone->data == NULL) {
        return;
    }

    ngx_ssl_session_redis_publish(rmcf);

    shm = rmcf->zone->data;
    shpool = (ngx_slab_pool_t *) rmcf->zone->shm.addr;

    if (rmcf->slot != 0) {
        names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);
        g = (ngx_ssl_session_redis_gauges_t *)
                (names + shm->nservers * NGX_SSL_SESSION_REDIS_NAME_LEN
                 + ngx_ssl_session_redis_slot_size(shm->nservers));

        ngx_shmtx_lock(&shpool->mutex);

        if (g[rmcf->slot - 1].pid == ngx_pid) {
            ngx_memzero(&g[rmcf->slot - 1],
                        sizeof(ngx_ssl_session_redis_gauges_t));
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    rmcf->slot = 0;

    if (rmcf->published != NULL) {
        ngx_free(rmcf->published);
        rmcf->published = NULL;
    }
}


static void
ngx_ssl_session_redis_publish_handler(ngx_event_t *ev)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = (ngx_ssl_session_redis_main_conf_t *)
               ((u_char *) ev
                - offsetof(ngx_ssl_session_redis_main_conf_t, publish));

    ngx_ssl_session_redis_publish(rmcf);

    ngx_add_timer(ev, 1000);
}


static ngx_shm_zone_t *
ngx_ssl_session_redis_find_zone(const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    len = ngx_strlen(name);
    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        /* "<name>:<hash of the server names>" */

        if (zone[i].shm.name.len > len
            && ngx_strncmp(zone[i].shm.name.data, name, len) == 0
            && zone[i].shm.name.data[len] == ':')
        {
            return &zone[i];
        }
    }
}


ngx_chain_t *
ngx_ssl_session_redis_status(ngx_pool_t *pool,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    ngx_uint_t                    i, n;
    ngx_shm_zone_t               *zone;
    ngx_ssl_session_redis_sum_t   sums[2];

    static const char *const  zones[] = {
        NGX_SSL_SESSION_REDIS_ZONE_HTTP, NGX_SSL_SESSION_REDIS_ZONE_STREAM
    };
    static const char *const  subsystems[] = { "http", "stream" };

    ngx_ssl_session_redis_publish(rmcf);

    n = 0;

    for (i = 0; i < 2; i++) {
        zone = ngx_ssl_session_redis_find_zone(zones[i]);
        if (zone == NULL || zone->data == NULL) {
            continue;
        }

        if (ngx_ssl_session_redis_sum(pool, zone, subsystems[i], &sums[n])
            != NGX_OK)
        {
            return NULL;
        }

        n++;
    }

    if (n == 0) {
        return NULL;
    }

    return ngx_ssl_session_redis_render(pool, sums, n);
}


/*
 * Label values escape backslashes, double quotes and newlines (a regex
 * server_name has backslashes), and servers of one name share a series:
 * Prometheus rejects a series twice on one page.
 */

static ngx_int_t
ngx_ssl_session_redis_sum(ngx_pool_t *pool, ngx_shm_zone_t *zone,
    const char *subsystem, ngx_ssl_session_redis_sum_t *sum)
{
    u_char                                *names, *name, *slot, *p;
    size_t                                 k, len;
    ngx_uint_t                             i, j, s, n;
    ngx_slab_pool_t                       *shpool;
    ngx_ssl_session_redis_shm_t           *shm;
    ngx_ssl_session_redis_gauges_t        *g;
    ngx_ssl_session_redis_worker_stats_t  *w;
    ngx_ssl_session_redis_server_stats_t  *sv, *tot;
    uint64_t                               ms;
    ngx_time_t                            *now;

    shm = zone->data;
    n = shm->nservers;
    names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);

    ngx_memzero(sum, sizeof(ngx_ssl_session_redis_sum_t));

    sum->subsystem = subsystem;
    sum->n = n;

    sum->tot = ngx_pcalloc(pool,
                        (n + 1) * sizeof(ngx_ssl_session_redis_server_stats_t));
    sum->names = ngx_pcalloc(pool, (n + 1) * sizeof(ngx_str_t));
    sum->first = ngx_pcalloc(pool, (n + 1) * sizeof(ngx_uint_t));

    if (sum->tot == NULL || sum->names == NULL || sum->first == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        name = names + i * NGX_SSL_SESSION_REDIS_NAME_LEN;
        len = ngx_strnlen(name, NGX_SSL_SESSION_REDIS_NAME_LEN);

        p = ngx_pnalloc(pool, 2 * len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        sum->names[i].data = p;

        for (k = 0; k < len; k++) {
            switch (name[k]) {

            case '\\':
            case '"':
                *p++ = '\\';
                *p++ = name[k];
                break;

            case '\n':
                *p++ = '\\';
                *p++ = 'n';
                break;

            default:
                *p++ = name[k];
            }
        }

        sum->names[i].len = p - sum->names[i].data;
        sum->first[i] = i;

        for (j = 0; j < i; j++) {
            if (sum->names[j].len == sum->names[i].len
                && ngx_strncmp(sum->names[j].data, sum->names[i].data,
                               sum->names[i].len) == 0)
            {
                sum->first[i] = sum->first[j];
                break;
            }
        }
    }

    w = &sum->w;
    tot = sum->tot;

    slot = names + n * NGX_SSL_SESSION_REDIS_NAME_LEN;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    g = (ngx_ssl_session_redis_gauges_t *)
            (slot + ngx_ssl_session_redis_slot_size(n));

    ngx_shmtx_lock(&shpool->mutex);

    ngx_memcpy(w, slot, sizeof(ngx_ssl_session_redis_worker_stats_t));

    sv = (ngx_ssl_session_redis_server_stats_t *)
             (slot + sizeof(ngx_ssl_session_redis_worker_stats_t));

    for (i = 0; i < n; i++) {
        j = sum->first[i];

        for (k = 0; k < NGX_SSL_SESSION_REDIS_OUTCOMES; k++) {
            tot[j].outcome[k] += sv[i].outcome[k];
        }

        tot[j].ssl.stored += sv[i].ssl.stored;
        tot[j].ssl.store_skipped += sv[i].ssl.store_skipped;
        tot[j].ssl.store_errors += sv[i].ssl.store_errors;
        tot[j].ssl.open_failures += sv[i].ssl.open_failures;
        tot[j].ssl.removed += sv[i].ssl.removed;
    }

    /* gauges: the workers alive now (one may have died without a word) */

    w->stores = 0;
    w->up = 0;
    w->connecting = 0;
    w->breaker_open = 0;
    w->inflight = 0;
    w->rings = 0;
    w->rotated_at = 0;
    w->encrypt_until = 0;

    for (s = 0; s < NGX_SSL_SESSION_REDIS_SLOTS; s++) {
        if (g[s].pid == 0
            || (kill(g[s].pid, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            continue;
        }

        w->stores += g[s].stores;
        w->up += g[s].up;
        w->connecting += g[s].connecting;
        w->breaker_open += g[s].breaker_open;
        w->inflight += g[s].inflight;

        /* every worker loads the same rings: the one furthest behind */

        if (g[s].rings == 0) {
            continue;
        }

        w->rings = ngx_max(w->rings, g[s].rings);

        if (w->rotated_at == 0 || g[s].rotated_at < w->rotated_at) {
            w->rotated_at = g[s].rotated_at;
        }

        if (w->encrypt_until == 0 || g[s].encrypt_until < w->encrypt_until) {
            w->encrypt_until = g[s].encrypt_until;
        }
    }

    sum->timeout = shm->timeout;

    ngx_shmtx_unlock(&shpool->mutex);

    sum->down = w->stores - ngx_min(w->stores, w->up + w->connecting
                                               + w->breaker_open);

    /* the current key's age, and the time it still issues tickets */

    now = ngx_timeofday();
    ms = (uint64_t) now->sec * 1000 + now->msec;

    sum->key_age = (ms > w->rotated_at) ? (ms - w->rotated_at) / 1000 : 0;
    sum->issue_left = (w->encrypt_until > ms)
                      ? (w->encrypt_until - ms) / 1000 : 0;

    return NGX_OK;
}


/*
 * Microseconds as seconds in Prometheus' canonical form, Go's
 * strconv.FormatFloat(v, 'g', -1, 64): no trailing zeros, no point for
 * whole numbers, an exponent below 1e-4 ("5e-05", "0.00025", "1",
 * "2.5").  A bucket bound written otherwise is another series to
 * Prometheus 2 (le="1.000" is not le="1").
 */

static u_char *
ngx_ssl_session_redis_seconds(u_char *p, u_char *last, uint64_t us)
{
    uint64_t    m;
    ngx_uint_t  digits, exp;
    u_char      frac[NGX_INT64_LEN];

    if (us == 0) {
        return ngx_slprintf(p, last, "0");
    }

    if (us >= 100) {
        p = ngx_slprintf(p, last, "%uL", us / 1000000);

        if (us % 1000000 == 0) {
            return p;
        }

        (void) ngx_sprintf(frac, "%06uL", us % 1000000);

        for (digits = 6; frac[digits - 1] == '0'; digits--) { /* void */ }

        return ngx_slprintf(p, last, ".%*s", (size_t) digits, frac);
    }

    /* below 1e-4 s (1 or 2 digits): d[.d]e-0N, no trailing zero */

    exp = (us >= 10) ? 5 : 6;

    for (m = us; m % 10 == 0; m /= 10) { /* void */ }

    digits = ngx_sprintf(frac, "%uL", m) - frac;

    if (digits == 1) {
        return ngx_slprintf(p, last, "%ce-%02ui", frac[0], exp);
    }

    return ngx_slprintf(p, last, "%c.%*se-%02ui", frac[0],
                        (size_t) (digits - 1), frac + 1, exp);
}


/* "OpenSSL 3.0.17 1 Jul 2025": its second word */

static ngx_str_t
ngx_ssl_session_redis_openssl_version(void)
{
    u_char     *p, *v;
    ngx_str_t   version;

    v = (u_char *) OpenSSL_version(OPENSSL_VERSION);

    p = (u_char *) ngx_strchr(v, ' ');
    if (p != NULL) {
        v = p + 1;
    }

    version.data = v;

    for (p = v; *p != '\0' && *p != ' ' && *p != '"' && *p != '\\'; p++) {
        /* void */
    }

    version.len = p - v;

    return version;
}


/*
 * The status page, family by family in this order: Prometheus wants a
 * family's HELP, TYPE and samples together, both subsystems in it.
 */

#define NGX_SSL_SESSION_REDIS_SUM(field)                                      \
    offsetof(ngx_ssl_session_redis_sum_t, field)

#define NGX_SSL_SESSION_REDIS_SSL(field)                                      \
    offsetof(tsr_ssl_stats_t, field)

static const ngx_ssl_session_redis_label_t  ngx_ssl_session_redis_commands[] =
{
    { "get", NGX_SSL_SESSION_REDIS_SUM(w.store.gets) },
    { "set", NGX_SSL_SESSION_REDIS_SUM(w.store.sets) },
    { "del", NGX_SSL_SESSION_REDIS_SUM(w.store.dels) },
    { NULL, 0 }
};

static const ngx_ssl_session_redis_label_t  ngx_ssl_session_redis_states[] = {
    { "up", NGX_SSL_SESSION_REDIS_SUM(w.up) },
    { "connecting", NGX_SSL_SESSION_REDIS_SUM(w.connecting) },
    { "breaker_open", NGX_SSL_SESSION_REDIS_SUM(w.breaker_open) },
    { "down", NGX_SSL_SESSION_REDIS_SUM(down) },
    { NULL, 0 }
};

static const ngx_ssl_session_redis_label_t  ngx_ssl_session_redis_events[] = {
    { "issued", NGX_SSL_SESSION_REDIS_SUM(w.tickets.issued) },
    { "not_issued", NGX_SSL_SESSION_REDIS_SUM(w.tickets.not_issued) },
    { "decrypted", NGX_SSL_SESSION_REDIS_SUM(w.tickets.decrypted) },
    { "renewed", NGX_SSL_SESSION_REDIS_SUM(w.tickets.renewed) },
    { "unknown_key", NGX_SSL_SESSION_REDIS_SUM(w.tickets.unknown_key) },
    { NULL, 0 }
};


static const ngx_ssl_session_redis_family_t  ngx_ssl_session_redis_families[] =
{
    { "ssl_session_redis_lookups_total", "counter",
      "Handshakes by the outcome of their session lookup (none: nothing to "
      "look up).",
      ngx_ssl_session_redis_render_lookups, 0, NULL, NULL },

    { "ssl_session_redis_stores_total", "counter",
      "New sessions handed to Redis, fire and forget (writes never sent are "
      "in ssl_session_redis_dropped_total).",
      ngx_ssl_session_redis_render_server,
      NGX_SSL_SESSION_REDIS_SSL(stored), NULL, NULL },

    { "ssl_session_redis_stores_skipped_total", "counter",
      "New sessions not written: in stateless tickets, or oversized.",
      ngx_ssl_session_redis_render_server,
      NGX_SSL_SESSION_REDIS_SSL(store_skipped), NULL, NULL },

    { "ssl_session_redis_store_errors_total", "counter",
      "Session writes that failed at once.",
      ngx_ssl_session_redis_render_server,
      NGX_SSL_SESSION_REDIS_SSL(store_errors), NULL, NULL },

    { "ssl_session_redis_open_failures_total", "counter",
      "Values read from Redis that did not open or decode.",
      ngx_ssl_session_redis_render_server,
      NGX_SSL_SESSION_REDIS_SSL(open_failures), NULL, NULL },

    { "ssl_session_redis_removes_total", "counter",
      "Sessions OpenSSL removed, deleted from Redis.",
      ngx_ssl_session_redis_render_server,
      NGX_SSL_SESSION_REDIS_SSL(removed), NULL, NULL },

    { "ssl_session_redis_commands_total", "counter",
      "Commands asked of Redis.",
      ngx_ssl_session_redis_render_labels, 0, "command",
      ngx_ssl_session_redis_commands },

    /* commands per write and replies per read: the batches */

    { "ssl_session_redis_sent_total", "counter",
      "Commands written to Redis, setup and scripts included.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.commands), NULL, NULL },

    { "ssl_session_redis_writes_total", "counter",
      "System calls that wrote commands to Redis.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.writes), NULL, NULL },

    { "ssl_session_redis_replies_total", "counter",
      "Replies read from Redis.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.replies), NULL, NULL },

    { "ssl_session_redis_reads_total", "counter",
      "System calls that read replies from Redis.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.reads), NULL, NULL },

    { "ssl_session_redis_errors_total", "counter",
      "Redis failures: connection, timeout, error replies.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.errors), NULL, NULL },

    { "ssl_session_redis_timeouts_total", "counter",
      "Lookups past their deadline.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.timeouts), NULL, NULL },

    { "ssl_session_redis_refused_total", "counter",
      "Lookups refused at once: not connected, breaker open, limits.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.refused), NULL, NULL },

    { "ssl_session_redis_dropped_total", "counter",
      "Writes never sent.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.dropped), NULL, NULL },

    { "ssl_session_redis_bad_values_total", "counter",
      "Replies of the wrong type or over the size limit.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.bad_values), NULL, NULL },

    { "ssl_session_redis_connects_total", "counter",
      "Connections made to Redis.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.connects), NULL, NULL },

    { "ssl_session_redis_breaker_opened_total", "counter",
      "Times the circuit breaker opened.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.store.breaker_opened), NULL, NULL },

    { "ssl_session_redis_connections", "gauge",
      "Redis connections of all workers, by state (a cluster or Sentinel "
      "counts once).",
      ngx_ssl_session_redis_render_labels, 0, "state",
      ngx_ssl_session_redis_states },

    { "ssl_session_redis_inflight", "gauge",
      "Lookups in flight.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.inflight), NULL, NULL },

    { "ssl_session_redis_tickets_total", "counter",
      "Fleet ticket key events.",
      ngx_ssl_session_redis_render_labels, 0, "event",
      ngx_ssl_session_redis_events },

    { "ssl_session_redis_ticket_rotations_total", "counter",
      "Ticket key rotations this node made.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.tickets.rotations), NULL, NULL },

    { "ssl_session_redis_ticket_loads_total", "counter",
      "Ticket key rings loaded.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.tickets.loads), NULL, NULL },

    { "ssl_session_redis_ticket_load_errors_total", "counter",
      "Ticket key rings rejected.",
      ngx_ssl_session_redis_render_value,
      NGX_SSL_SESSION_REDIS_SUM(w.tickets.load_errors), NULL, NULL },

    { "ssl_session_redis_ticket_key_age_seconds", "gauge",
      "Time since the fleet ticket ring was rotated: the current key's age "
      "(the oldest ring of the workers alive).",
      ngx_ssl_session_redis_render_ring,
      NGX_SSL_SESSION_REDIS_SUM(key_age), NULL, NULL },

    { "ssl_session_redis_ticket_issue_left_seconds", "gauge",
      "Time left before tickets stop being issued unless a newer ring "
      "arrives (0: none issued now).",
      ngx_ssl_session_redis_render_ring,
      NGX_SSL_SESSION_REDIS_SUM(issue_left), NULL, NULL },

    { "ssl_session_redis_latency_seconds", "histogram",
      "Round trips of lookups Redis answered, late ones included.",
      ngx_ssl_session_redis_render_latency, 0, NULL, NULL },

    { "ssl_session_redis_build_info", "gauge",
      "Versions of the module, the nginx it was built for and the OpenSSL "
      "it runs with.",
      ngx_ssl_session_redis_render_build_info, 0, NULL, NULL }
};


#define ngx_ssl_session_redis_sample(base, offset)                            \
    (*(uint64_t *) ((u_char *) (base) + (offset)))


static ngx_chain_t *
ngx_ssl_session_redis_render(ngx_pool_t *pool,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_uint_t    i, j;
    ngx_chain_t  *cl;

    const ngx_ssl_session_redis_family_t  *f;

    size = 8192;

    for (j = 0; j < nsums; j++) {
        size += 4096 + sums[j].n * (NGX_SSL_SESSION_REDIS_OUTCOMES + 8)
                                 * (128 + 2 * NGX_SSL_SESSION_REDIS_NAME_LEN);
    }

    b = ngx_create_temp_buf(pool, size);
    if (b == NULL) {
        return NULL;
    }

    f = ngx_ssl_session_redis_families;

    for (i = 0; i < sizeof(ngx_ssl_session_redis_families)
                    / sizeof(ngx_ssl_session_redis_families[0]); i++)
    {
        f[i].render(b, &f[i], sums, nsums);
    }

    cl = ngx_alloc_chain_link(pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static void
ngx_ssl_session_redis_family(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f)
{
    b->last = ngx_slprintf(b->last, b->end, "# HELP %s %s\n# TYPE %s %s\n",
                           f->name, f->help, f->name, f->type);
}


/* per server and outcome */

static void
ngx_ssl_session_redis_render_lookups(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    size_t                        k;
    ngx_uint_t                    i, j;
    ngx_ssl_session_redis_sum_t  *sm;

    static const char *const  outcomes[] = {
        "none", "l1", "hit", "miss", "timeout", "error", "skipped"
    };

    ngx_ssl_session_redis_family(b, f);

    for (j = 0; j < nsums; j++) {
        sm = &sums[j];

        for (i = 0; i < sm->n; i++) {
            if (sm->first[i] != i) {
                continue;
            }

            for (k = 0; k < NGX_SSL_SESSION_REDIS_OUTCOMES; k++) {
                b->last = ngx_slprintf(b->last, b->end,
                              "%s{subsystem=\"%s\",server=\"%V\","
                              "outcome=\"%s\"} %uL\n", f->name,
                              sm->subsystem, &sm->names[i], outcomes[k],
                              sm->tot[i].outcome[k]);
            }
        }
    }
}


/* per server: a counter of its tsr_ssl_stats_t */

static void
ngx_ssl_session_redis_render_server(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    ngx_uint_t                    i, j;
    ngx_ssl_session_redis_sum_t  *sm;

    ngx_ssl_session_redis_family(b, f);

    for (j = 0; j < nsums; j++) {
        sm = &sums[j];

        for (i = 0; i < sm->n; i++) {
            if (sm->first[i] != i) {
                continue;
            }

            b->last = ngx_slprintf(b->last, b->end,
                          "%s{subsystem=\"%s\",server=\"%V\"} %uL\n",
                          f->name, sm->subsystem, &sm->names[i],
                          ngx_ssl_session_redis_sample(&sm->tot[i].ssl,
                                                       f->offset));
        }
    }
}


/* per subsystem */

static void
ngx_ssl_session_redis_render_value(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    ngx_uint_t  j;

    ngx_ssl_session_redis_family(b, f);

    for (j = 0; j < nsums; j++) {
        b->last = ngx_slprintf(b->last, b->end, "%s{subsystem=\"%s\"} %uL\n",
                               f->name, sums[j].subsystem,
                               ngx_ssl_session_redis_sample(&sums[j],
                                                            f->offset));
    }
}


/* per subsystem and label value */

static void
ngx_ssl_session_redis_render_labels(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    ngx_uint_t                            j;
    const ngx_ssl_session_redis_label_t  *l;

    ngx_ssl_session_redis_family(b, f);

    for (j = 0; j < nsums; j++) {
        for (l = f->labels; l->value != NULL; l++) {
            b->last = ngx_slprintf(b->last, b->end,
                          "%s{subsystem=\"%s\",%s=\"%s\"} %uL\n",
                          f->name, sums[j].subsystem, f->label, l->value,
                          ngx_ssl_session_redis_sample(&sums[j], l->offset));
        }
    }
}


/*
 * The ring closest to trouble, only where rings are loaded (a family
 * without samples is not allowed).
 */

static void
ngx_ssl_session_redis_render_ring(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    ngx_uint_t  j, family;

    family = 0;

    for (j = 0; j < nsums; j++) {
        if (sums[j].w.rings == 0) {
            continue;
        }

        if (!family) {
            ngx_ssl_session_redis_family(b, f);
            family = 1;
        }

        b->last = ngx_slprintf(b->last, b->end, "%s{subsystem=\"%s\"} %uL\n",
                               f->name, sums[j].subsystem,
                               ngx_ssl_session_redis_sample(&sums[j],
                                                            f->offset));
    }
}


/* buckets up to the longest lookup deadline, then +Inf */

static void
ngx_ssl_session_redis_render_latency(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    size_t                                 k;
    uint64_t                               cum;
    ngx_uint_t                             j;
    ngx_ssl_session_redis_worker_stats_t  *w;

    static const uint64_t  bounds[] = TSR_STORE_LATENCY_BOUNDS;

    ngx_ssl_session_redis_family(b, f);

    for (j = 0; j < nsums; j++) {
        w = &sums[j].w;
        cum = 0;

        for (k = 0; k < TSR_STORE_LATENCY_BUCKETS; k++) {
            cum += w->store.latency[k];

            if (k == TSR_STORE_LATENCY_BUCKETS - 1) {
                break;
            }

            if (sums[j].timeout != 0
                && bounds[k] > (uint64_t) sums[j].timeout * 1000)
            {
                continue;
            }

            b->last = ngx_slprintf(b->last, b->end,
                                   "%s_bucket{subsystem=\"%s\",le=\"",
                                   f->name, sums[j].subsystem);
            b->last = ngx_ssl_session_redis_seconds(b->last, b->end,
                                                    bounds[k]);
            b->last = ngx_slprintf(b->last, b->end, "\"} %uL\n", cum);
        }

        b->last = ngx_slprintf(b->last, b->end,
                      "%s_bucket{subsystem=\"%s\",le=\"+Inf\"} %uL\n"
                      "%s_sum{subsystem=\"%s\"} %uL.%06uL\n"
                      "%s_count{subsystem=\"%s\"} %uL\n",
                      f->name, sums[j].subsystem, cum,
                      f->name, sums[j].subsystem,
                      w->store.latency_sum_us / 1000000,
                      w->store.latency_sum_us % 1000000,
                      f->name, sums[j].subsystem, cum);
    }
}


static void
ngx_ssl_session_redis_render_build_info(ngx_buf_t *b,
    const ngx_ssl_session_redis_family_t *f,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    ngx_str_t  openssl;

    openssl = ngx_ssl_session_redis_openssl_version();

    ngx_ssl_session_redis_family(b, f);

    b->last = ngx_slprintf(b->last, b->end,
                           "%s{version=\"%s\",nginx=\"%s\",openssl=\"%V\"} "
                           "1\n", f->name, NGX_SSL_SESSION_REDIS_VERSION,
                           NGINX_VERSION, &openssl);
}
