
/*
 * tsr-admin -c: the Redis address (with its parameters), prefix, key files,
 * ticket rotation period and session timeout of one server in nginx's
 * configuration.  nginx itself reads the configuration ("nginx -T -c FILE"
 * checks it and dumps every file it read); this file tokenizes the dump as
 * nginx does, follows "include" through the dumped files, and applies
 * nginx's inheritance: http or stream level, then server level, a server's
 * ssl_session_redis_key lines replacing the inherited ones.  Both names of
 * the renamed directives are accepted.  Paths that nginx would resolve
 * against the configuration's directory (key files, *_file= parameters)
 * are resolved the same way.
 */


#include "tsr_admin_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/crypto.h>


#define TSR_NGX_MAX_DUMP      (16 * 1024 * 1024)
#define TSR_NGX_MAX_ERR       4096
#define TSR_NGX_MAX_INCLUDE   16              /* nesting, as a sanity cap */
#define TSR_NGX_MAX_NAMES     32
#define TSR_NGX_MAX_ARGS      64
#define TSR_NGX_SHOW          5

#define TSR_NGX_WORD          0
#define TSR_NGX_SEMI          1
#define TSR_NGX_OPEN          2
#define TSR_NGX_CLOSE         3

#define TSR_NGX_MAIN          0
#define TSR_NGX_HTTP          1
#define TSR_NGX_STREAM        2
#define TSR_NGX_SERVER        3
#define TSR_NGX_OTHER         4


typedef struct {
    int                     type;
    char                   *text;           /* words only, unescaped */
} tsr_ngx_token_t;

typedef struct {
    const char             *name;           /* in the dump, terminated */
    const char             *text;
    size_t                  len;
} tsr_ngx_file_t;

/* what a level of the configuration says; pointers into the tokens */
typedef struct {
    size_t                  addr;           /* first argument, or 0 */
    size_t                  naddr;          /* 0: unset; "off" is kept */
    const char             *prefix;
    const char             *keys[TSR_ADMIN_MAX_KEY_FILES];
    size_t                  nkeys;
    unsigned                keys_here:1;
    const char             *rotation;
    const char             *timeout;
} tsr_ngx_set_t;

typedef struct {
    int                     stream;
    tsr_ngx_set_t           set;
    const char             *names[TSR_NGX_MAX_NAMES];   /* server_name or
                                                           listen */
    size_t                  nnames;
} tsr_ngx_server_t;

typedef struct {
    tsr_admin_t            *adm;
    char                   *dump;
    size_t                  dump_len;
    char                    config[TSR_ADMIN_WHERE_LEN];   /* absolute */
    tsr_ngx_file_t         *files;
    size_t                  nfiles;
    char                    dir[TSR_ADMIN_WHERE_LEN];  /* conf prefix */
    tsr_ngx_token_t        *toks;
    size_t                  ntoks;
    size_t                  nalloc;
    tsr_ngx_server_t       *servers;
    size_t                  nservers;
    size_t                  salloc;
} tsr_ngx_t;


static int tsr_ngx_run(tsr_ngx_t *ngx, const char *nginx);
static int tsr_ngx_split(tsr_ngx_t *ngx);
static int tsr_ngx_tokenize(tsr_ngx_t *ngx, const tsr_ngx_file_t *f,
    int depth);
static int tsr_ngx_include(tsr_ngx_t *ngx, const char *pattern, int depth);
static int tsr_ngx_push(tsr_ngx_t *ngx, int type, const char *p,
    size_t len);
static int tsr_ngx_block(tsr_ngx_t *ngx, size_t *i, int ctx,
    tsr_ngx_set_t *set, tsr_ngx_server_t *srv);
static int tsr_ngx_directive(tsr_ngx_t *ngx, size_t at, size_t n, int ctx,
    tsr_ngx_set_t *set, tsr_ngx_server_t *srv);
static int tsr_ngx_is(const char *name, const char *a, const char *b);
static int tsr_ngx_matches(const tsr_ngx_server_t *s, const char *name);
static int tsr_ngx_same(tsr_ngx_t *ngx, const tsr_ngx_server_t *a,
    const tsr_ngx_server_t *b);
static int tsr_ngx_use(tsr_ngx_t *ngx, const tsr_ngx_server_t *s);
static char *tsr_ngx_path(tsr_ngx_t *ngx, const char *path);
static void tsr_ngx_free(tsr_ngx_t *ngx);


int
tsr_admin_nginx_config(tsr_admin_t *adm)
{
    int                rc;
    size_t             i, n, first, len;
    tsr_ngx_t          ngx;
    tsr_ngx_set_t      set;
    const char        *nginx, *kind;
    tsr_ngx_server_t  *s, *pick;
    char               list[TSR_ADMIN_MSG_LEN / 2];

    memset(&ngx, 0, sizeof(tsr_ngx_t));
    ngx.adm = adm;

    nginx = adm->nginx;

    if (nginx == NULL) {
        /* execvp() searches PATH; Debian's nginx is not on a user's PATH */
        nginx = (access("/usr/sbin/nginx", X_OK) == 0) ? "/usr/sbin/nginx"
                                                        : "nginx";
    }

    rc = TSR_ADMIN_FAILED;

    /* nginx takes a relative -c from its prefix, an operator from "." */

    if (adm->config[0] == '/') {
        n = (size_t) snprintf(ngx.config, sizeof(ngx.config), "%s",
                              adm->config);

    } else if (getcwd(ngx.config, sizeof(ngx.config)) != NULL) {
        len = strlen(ngx.config);
        n = len + (size_t) snprintf(ngx.config + len,
                                    sizeof(ngx.config) - len, "/%s",
                                    adm->config);

    } else {
        n = sizeof(ngx.config);
    }

    if (n >= sizeof(ngx.config)) {
        tsr_admin_fail(adm, "cannot make \"%s\" an absolute path",
                       adm->config);
        goto done;
    }

    if (tsr_ngx_run(&ngx, nginx) != 0 || tsr_ngx_split(&ngx) != 0
        || tsr_ngx_tokenize(&ngx, &ngx.files[0], 0) != 0)
    {
        goto done;
    }

    memset(&set, 0, sizeof(tsr_ngx_set_t));
    i = 0;

    if (tsr_ngx_block(&ngx, &i, TSR_NGX_MAIN, &set, NULL) != 0) {
        goto done;
    }

    /* the servers that --server names, or all those using the module */

    pick = NULL;
    first = 0;
    n = 0;
    list[0] = '\0';

    for (i = 0; i < ngx.nservers; i++) {
        s = &ngx.servers[i];

        if (adm->server != NULL ? !tsr_ngx_matches(s, adm->server)
                                : s->set.naddr == 0
                                  || strcmp(ngx.toks[s->set.addr].text,
                                            "off") == 0)
        {
            continue;
        }

        if (pick == NULL) {
            pick = s;
            first = i;

        } else if (!tsr_ngx_same(&ngx, pick, s)) {
            n++;
        }

        len = strlen(list);

        if (len < sizeof(list) - 64) {
            (void) snprintf(list + len, sizeof(list) - len, "%s\"%s\" (%s)",
                            len ? ", " : "",
                            s->nnames ? s->names[0] : "",
                            s->stream ? "stream" : "http");
        }
    }

    if (pick == NULL) {
        if (adm->server != NULL) {
            tsr_admin_fail(adm, "no server \"%s\" in %s (http servers are "
                           "named by server_name, stream servers by their "
                           "listen address)", adm->server, adm->config);

        } else {
            tsr_admin_fail(adm, "no server in %s uses ssl_session_redis",
                           adm->config);
        }

        goto done;
    }

    if (n != 0) {
        rc = TSR_ADMIN_USAGE;
        tsr_admin_fail(adm, "%s servers in %s use ssl_session_redis with "
                       "different settings: %s; choose one with --server",
                       adm->server ? "the matching" : "several", adm->config,
                       list);
        goto done;
    }

    s = &ngx.servers[first];
    kind = s->stream ? "stream" : "http";

    if (s->set.naddr == 0 || strcmp(ngx.toks[s->set.addr].text, "off") == 0)
    {
        tsr_admin_fail(adm, "%s server \"%s\" in %s does not use "
                       "ssl_session_redis", kind,
                       s->nnames ? s->names[0] : "", adm->config);
        goto done;
    }

    (void) snprintf(adm->nginx_source, sizeof(adm->nginx_source),
                    "%s server \"%s\" in %s", kind,
                    s->nnames ? s->names[0] : "", adm->config);

    rc = tsr_ngx_use(&ngx, s);

done:

    tsr_ngx_free(&ngx);

    return rc;
}


/* "nginx -T -q -c FILE": its standard output whole, or its first error */

static int
tsr_ngx_run(tsr_ngx_t *ngx, const char *nginx)
{
    int             out[2], err[2], status, n;
    char           *p, *dump;
    pid_t           pid;
    size_t          len, size, elen;
    struct pollfd   pfd[2];
    char            ebuf[TSR_NGX_MAX_ERR];

    if (pipe(out) != 0) {
        tsr_admin_fail(ngx->adm, "pipe() failed: %s", strerror(errno));
        return -1;
    }

    if (pipe(err) != 0) {
        tsr_admin_fail(ngx->adm, "pipe() failed: %s", strerror(errno));
        (void) close(out[0]);
        (void) close(out[1]);
        return -1;
    }

    (void) fflush(stdout);
    (void) fflush(stderr);

    pid = fork();

    if (pid == -1) {
        tsr_admin_fail(ngx->adm, "fork() failed: %s", strerror(errno));
        (void) close(out[0]);
        (void) close(out[1]);
        (void) close(err[0]);
        (void) close(err[1]);
        return -1;
    }

    if (pid == 0) {
        n = open("/dev/null", O_RDONLY);

        if (n == -1 || dup2(n, 0) == -1 || dup2(out[1], 1) == -1
            || dup2(err[1], 2) == -1)
        {
            _exit(127);
        }

        (void) close(out[0]);
        (void) close(err[0]);

        (void) execlp(nginx, nginx, "-T", "-q", "-c", ngx->config,
                      (char *) NULL);

        dprintf(2, "cannot run \"%s\": %s\n", nginx, strerror(errno));
        _exit(127);
    }

    (void) close(out[1]);
    (void) close(err[1]);

    dump = NULL;
    len = 0;
    size = 0;
    elen = 0;

    pfd[0].fd = out[0];
    pfd[0].events = POLLIN;
    pfd[1].fd = err[0];
    pfd[1].events = POLLIN;

    while (pfd[0].fd != -1 || pfd[1].fd != -1) {
        if (poll(pfd, 2, -1) == -1) {
            if (errno == EINTR) {
                continue;
            }

            break;
        }

        if (pfd[0].fd != -1 && pfd[0].revents != 0) {
            if (len + 65536 + 1 > size && size < TSR_NGX_MAX_DUMP) {
                size = size ? 2 * size : 65536 * 2;

                p = realloc(dump, size);
                if (p == NULL) {
                    break;
                }

                dump = p;
            }

            n = (len + 1 < size) ? (int) read(out[0], dump + len,
                                              size - len - 1)
                                 : 0;

            if (n > 0) {
                len += (size_t) n;

            } else if (n == 0 || errno != EINTR) {
                (void) close(out[0]);
                pfd[0].fd = -1;
            }
        }

        if (pfd[1].fd != -1 && pfd[1].revents != 0) {
            n = (int) read(err[0], ebuf + elen, sizeof(ebuf) - elen - 1);

            if (n > 0) {
                elen += (size_t) n;
            }

            if (n == 0 || (n < 0 && errno != EINTR)
                || elen == sizeof(ebuf) - 1)
            {
                (void) close(err[0]);
                pfd[1].fd = -1;
            }
        }
    }

    if (pfd[0].fd != -1) {
        (void) close(out[0]);
    }

    if (pfd[1].fd != -1) {
        (void) close(err[0]);
    }

    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }

    ebuf[elen] = '\0';
    ebuf[strcspn(ebuf, "\n")] = '\0';

    /* "2026/01/01 00:00:00 [emerg] 1#1: what": just "what" */
    p = strstr(ebuf, "] ");
    p = (p != NULL) ? strstr(p, ": ") : NULL;

    if (p != NULL) {
        memmove(ebuf, p + 2, strlen(p + 2) + 1);
    }

    if (status != 0 || dump == NULL || len == 0) {
        tsr_admin_fail(ngx->adm, "\"%s -T -c %s\" failed: %s", nginx,
                       ngx->config,
                       ebuf[0] ? ebuf : (dump == NULL || len == 0)
                                        ? "no output" : "exit status");
        free(dump);
        return -1;
    }

    dump[len] = '\0';
    ngx->dump = dump;
    ngx->dump_len = len;

    return 0;
}


/*
 * The dump: for each file read, "# configuration file NAME:\n", its text,
 * and a newline.  Names are cut out in place.
 */

static int
tsr_ngx_split(tsr_ngx_t *ngx)
{
    char               *p, *colon, *next, *slash;
    size_t              n, alloc;
    tsr_ngx_file_t     *f;
    static const char   head[] = "# configuration file ";

    alloc = 0;
    p = ngx->dump;

    if (strncmp(p, head, sizeof(head) - 1) != 0) {
        tsr_admin_fail(ngx->adm, "nginx -T printed no configuration");
        return -1;
    }

    while (p != NULL) {
        p += sizeof(head) - 1;
        colon = strstr(p, ":\n");

        if (colon == NULL) {
            break;
        }

        if (ngx->nfiles == alloc) {
            alloc = alloc ? 2 * alloc : 16;

            f = realloc(ngx->files, alloc * sizeof(tsr_ngx_file_t));
            if (f == NULL) {
                tsr_admin_fail(ngx->adm, "out of memory");
                return -1;
            }

            ngx->files = f;
        }

        f = &ngx->files[ngx->nfiles++];

        *colon = '\0';
        f->name = p;
        f->text = colon + 2;

        next = strstr(f->text, "\n# configuration file ");
        n = (next != NULL) ? (size_t) (next - f->text) : strlen(f->text);
        f->len = n;

        p = (next != NULL) ? next + 1 : NULL;
    }

    if (ngx->nfiles == 0) {
        tsr_admin_fail(ngx->adm, "nginx -T printed no configuration");
        return -1;
    }

    /* nginx's conf prefix: the main file's directory */

    slash = strrchr(ngx->files[0].name, '/');
    n = (slash != NULL) ? (size_t) (slash - ngx->files[0].name + 1) : 0;

    if (n >= sizeof(ngx->dir)) {
        tsr_admin_fail(ngx->adm, "configuration path too long");
        return -1;
    }

    memcpy(ngx->dir, ngx->files[0].name, n);
    ngx->dir[n] = '\0';

    return 0;
}


/* nginx's tokens: words (quoted or not, escapes undone), ";", "{", "}" */

static int
tsr_ngx_tokenize(tsr_ngx_t *ngx, const tsr_ngx_file_t *f, int depth)
{
    char         q, c;
    char        *w;
    size_t       n, at;
    const char  *p, *last;

    p = f->text;
    last = f->text + f->len;

    w = malloc(f->len + 1);
    if (w == NULL) {
        tsr_admin_fail(ngx->adm, "out of memory");
        return -1;
    }

    while (p < last) {
        c = *p;

        if (isspace((unsigned char) c)) {
            p++;
            continue;
        }

        if (c == '#') {
            while (p < last && *p != '\n') {
                p++;
            }

            continue;
        }

        if (c == ';' || c == '{' || c == '}') {
            at = ngx->ntoks;

            if (tsr_ngx_push(ngx, (c == ';') ? TSR_NGX_SEMI
                                  : (c == '{') ? TSR_NGX_OPEN : TSR_NGX_CLOSE,
                             NULL, 0)
                != 0)
            {
                goto failed;
            }

            p++;

            /* include FILE; is replaced by the tokens of the files */

            if (c == ';' && at >= 2
                && ngx->toks[at - 2].type == TSR_NGX_WORD
                && strcmp(ngx->toks[at - 2].text, "include") == 0
                && ngx->toks[at - 1].type == TSR_NGX_WORD
                && (at == 2 || ngx->toks[at - 3].type != TSR_NGX_WORD))
            {
                (void) memcpy(w, ngx->toks[at - 1].text,
                              strlen(ngx->toks[at - 1].text) + 1);

                for (n = at - 2; n <= at; n++) {
                    free(ngx->toks[n].text);
                }

                ngx->ntoks = at - 2;

                if (tsr_ngx_include(ngx, w, depth) != 0) {
                    goto failed;
                }
            }

            continue;
        }

        n = 0;
        q = 0;

        if (c == '"' || c == '\'') {
            q = c;
            p++;
        }

        while (p < last) {
            c = *p;

            if (q ? c == q
                  : (isspace((unsigned char) c) || c == ';' || c == '{'
                     || c == '}'))
            {
                break;
            }

            if (c == '\\' && p + 1 < last) {
                p++;

                switch (*p) {
                case '"':
                case '\'':
                case '\\':
                    c = *p;
                    break;
                case 't':
                    c = '\t';
                    break;
                case 'r':
                    c = '\r';
                    break;
                case 'n':
                    c = '\n';
                    break;
                default:
                    w[n++] = '\\';
                    c = *p;
                }
            }

            w[n++] = c;
            p++;
        }

        if (q) {
            if (p == last) {
                tsr_admin_fail(ngx->adm, "unbalanced quotes in %s",
                               f->name);
                goto failed;
            }

            p++;
        }

        if (tsr_ngx_push(ngx, TSR_NGX_WORD, w, n) != 0) {
            goto failed;
        }
    }

    free(w);

    return 0;

failed:

    free(w);

    return -1;
}


/* the dumped files an include pattern names, in glob()'s sorted order */

static int
tsr_ngx_include(tsr_ngx_t *ngx, const char *pattern, int depth)
{
    int           rc;
    char         *full;
    size_t        i, j, n, *order, t;

    if (depth == TSR_NGX_MAX_INCLUDE) {
        tsr_admin_fail(ngx->adm, "includes nested too deep");
        return -1;
    }

    full = tsr_ngx_path(ngx, pattern);
    if (full == NULL) {
        return -1;
    }

    order = malloc((ngx->nfiles + 1) * sizeof(size_t));
    if (order == NULL) {
        free(full);
        tsr_admin_fail(ngx->adm, "out of memory");
        return -1;
    }

    n = 0;

    for (i = 0; i < ngx->nfiles; i++) {
        if (fnmatch(full, ngx->files[i].name, FNM_PATHNAME) == 0) {
            order[n++] = i;
        }
    }

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && strcmp(ngx->files[order[j - 1]].name,
                                    ngx->files[order[j]].name) > 0; j--)
        {
            t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    }

    rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        rc = tsr_ngx_tokenize(ngx, &ngx->files[order[i]], depth + 1);
    }

    free(order);
    free(full);

    return rc;
}


static int
tsr_ngx_push(tsr_ngx_t *ngx, int type, const char *p, size_t len)
{
    size_t            n;
    tsr_ngx_token_t  *t;

    if (ngx->ntoks == ngx->nalloc) {
        n = ngx->nalloc ? 2 * ngx->nalloc : 1024;

        t = realloc(ngx->toks, n * sizeof(tsr_ngx_token_t));
        if (t == NULL) {
            tsr_admin_fail(ngx->adm, "out of memory");
            return -1;
        }

        ngx->toks = t;
        ngx->nalloc = n;
    }

    t = &ngx->toks[ngx->ntoks];
    t->type = type;
    t->text = NULL;

    if (type == TSR_NGX_WORD) {
        t->text = malloc(len + 1);
        if (t->text == NULL) {
            tsr_admin_fail(ngx->adm, "out of memory");
            return -1;
        }

        memcpy(t->text, p, len);
        t->text[len] = '\0';
    }

    ngx->ntoks++;

    return 0;
}


/*
 * The directives of one block from toks[*i] to its "}" (or the end);
 * "set" is this level's copy of what it inherited.
 */

static int
tsr_ngx_block(tsr_ngx_t *ngx, size_t *i, int ctx, tsr_ngx_set_t *set,
    tsr_ngx_server_t *srv)
{
    int                inner;
    size_t             at, n;
    const char        *name;
    tsr_ngx_set_t      child;
    tsr_ngx_server_t   s, *p;

    while (*i < ngx->ntoks) {
        if (ngx->toks[*i].type == TSR_NGX_CLOSE) {
            (*i)++;
            return 0;
        }

        at = *i;

        while (*i < ngx->ntoks && ngx->toks[*i].type == TSR_NGX_WORD) {
            (*i)++;
        }

        n = *i - at;

        if (*i == ngx->ntoks || n == 0) {
            tsr_admin_fail(ngx->adm, "unexpected end of the configuration");
            return -1;
        }

        name = ngx->toks[at].text;

        if (ngx->toks[*i].type == TSR_NGX_SEMI) {
            (*i)++;

            if (tsr_ngx_directive(ngx, at, n, ctx, set, srv) != 0) {
                return -1;
            }

            continue;
        }

        if (ngx->toks[*i].type != TSR_NGX_OPEN) {
            tsr_admin_fail(ngx->adm, "unexpected \"}\" in the configuration");
            return -1;
        }

        (*i)++;

        child = *set;
        child.keys_here = 0;

        if (ctx == TSR_NGX_MAIN && strcmp(name, "http") == 0) {
            inner = TSR_NGX_HTTP;

        } else if (ctx == TSR_NGX_MAIN && strcmp(name, "stream") == 0) {
            inner = TSR_NGX_STREAM;

        } else if ((ctx == TSR_NGX_HTTP || ctx == TSR_NGX_STREAM)
                   && strcmp(name, "server") == 0)
        {
            memset(&s, 0, sizeof(tsr_ngx_server_t));
            s.stream = (ctx == TSR_NGX_STREAM);

            if (tsr_ngx_block(ngx, i, TSR_NGX_SERVER, &child, &s) != 0) {
                return -1;
            }

            s.set = child;

            if (ngx->nservers == ngx->salloc) {
                n = ngx->salloc ? 2 * ngx->salloc : 16;

                p = realloc(ngx->servers, n * sizeof(tsr_ngx_server_t));
                if (p == NULL) {
                    tsr_admin_fail(ngx->adm, "out of memory");
                    return -1;
                }

                ngx->servers = p;
                ngx->salloc = n;
            }

            ngx->servers[ngx->nservers++] = s;
            continue;

        } else {
            /* location, upstream, map, events...: nothing of ours */
            inner = TSR_NGX_OTHER;
        }

        if (tsr_ngx_block(ngx, i, inner, &child, NULL) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
tsr_ngx_directive(tsr_ngx_t *ngx, size_t at, size_t n, int ctx,
    tsr_ngx_set_t *set, tsr_ngx_server_t *srv)
{
    size_t       k;
    const char  *name, *arg;

    if (ctx != TSR_NGX_HTTP && ctx != TSR_NGX_STREAM
        && ctx != TSR_NGX_SERVER)
    {
        return 0;
    }

    name = ngx->toks[at].text;
    arg = (n > 1) ? ngx->toks[at + 1].text : NULL;

    if (arg == NULL) {
        return 0;
    }

    if (strcmp(name, "ssl_session_redis") == 0) {
        set->addr = at + 1;
        set->naddr = n - 1;

    } else if (strcmp(name, "ssl_session_redis_prefix") == 0) {
        set->prefix = arg;

    } else if (tsr_ngx_is(name, "ssl_session_redis_key",
                          "ssl_session_redis_fleet_key"))
    {
        if (!set->keys_here) {
            set->nkeys = 0;
            set->keys_here = 1;
        }

        if (set->nkeys < TSR_ADMIN_MAX_KEY_FILES) {
            set->keys[set->nkeys++] = arg;
        }

    } else if (strcmp(name, "ssl_session_redis_ticket_rotation") == 0) {
        set->rotation = arg;

    } else if (strcmp(name, "ssl_session_timeout") == 0) {
        set->timeout = arg;

    } else if (srv != NULL
               && ((!srv->stream && strcmp(name, "server_name") == 0)
                   || (srv->stream && strcmp(name, "listen") == 0)))
    {
        /* names of an http server; the address of a stream one */

        for (k = 1; k < n && srv->nnames < TSR_NGX_MAX_NAMES; k++) {
            srv->names[srv->nnames++] = ngx->toks[at + k].text;

            if (srv->stream) {
                break;
            }
        }
    }

    return 0;
}


static int
tsr_ngx_is(const char *name, const char *a, const char *b)
{
    return strcmp(name, a) == 0 || strcmp(name, b) == 0;
}


/* a server_name, case-insensitively; a listen address, or its port */

static int
tsr_ngx_matches(const tsr_ngx_server_t *s, const char *name)
{
    size_t       i, n, len;
    const char  *p;

    len = strlen(name);

    for (i = 0; i < s->nnames; i++) {
        p = s->names[i];

        if (!s->stream) {
            if (strcasecmp(p, name) == 0) {
                return 1;
            }

            continue;
        }

        if (strcmp(p, name) == 0) {
            return 1;
        }

        n = strlen(p);

        if (n > len && p[n - len - 1] == ':'
            && strcmp(p + n - len, name) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
tsr_ngx_same(tsr_ngx_t *ngx, const tsr_ngx_server_t *a,
    const tsr_ngx_server_t *b)
{
    size_t  i;

    if (a->set.naddr != b->set.naddr || a->set.nkeys != b->set.nkeys
        || (a->set.prefix == NULL) != (b->set.prefix == NULL)
        || (a->set.prefix != NULL
            && strcmp(a->set.prefix, b->set.prefix) != 0))
    {
        return 0;
    }

    for (i = 0; i < a->set.naddr; i++) {
        if (strcmp(ngx->toks[a->set.addr + i].text,
                   ngx->toks[b->set.addr + i].text) != 0)
        {
            return 0;
        }
    }

    for (i = 0; i < a->set.nkeys; i++) {
        if (strcmp(a->set.keys[i], b->set.keys[i]) != 0) {
            return 0;
        }
    }

    return 1;
}


/* copies what the chosen server says into adm */

static int
tsr_ngx_use(tsr_ngx_t *ngx, const tsr_ngx_server_t *s)
{
    char         *v, *eq, *full;
    size_t        i, len, n;
    tsr_admin_t  *adm;

    adm = ngx->adm;
    len = 0;
    adm->nginx_address[0] = '\0';

    for (i = 0; i < s->set.naddr; i++) {
        v = ngx->toks[s->set.addr + i].text;
        eq = strchr(v, '=');
        full = NULL;

        /* password_file=, tls_ca_file=...: as nginx resolves them */

        if (eq != NULL && eq - v > 5 && strncmp(eq - 5, "_file", 5) == 0
            && eq[1] != '/' && eq[1] != '\0')
        {
            full = tsr_ngx_path(ngx, eq + 1);
            if (full == NULL) {
                return TSR_ADMIN_FAILED;
            }
        }

        n = (size_t) snprintf(adm->nginx_address + len,
                              sizeof(adm->nginx_address) - len, "%s%.*s%s",
                              i ? " " : "",
                              full ? (int) (eq + 1 - v) : (int) strlen(v), v,
                              full ? full : "");
        free(full);

        if (n >= sizeof(adm->nginx_address) - len) {
            tsr_admin_fail(adm, "ssl_session_redis of %s is too long",
                           adm->nginx_source);
            return TSR_ADMIN_FAILED;
        }

        len += n;
    }

    if (s->set.prefix != NULL) {
        if (strlen(s->set.prefix) >= sizeof(adm->nginx_prefix)) {
            tsr_admin_fail(adm, "ssl_session_redis_prefix of %s is too long",
                           adm->nginx_source);
            return TSR_ADMIN_FAILED;
        }

        (void) strcpy(adm->nginx_prefix, s->set.prefix);
    }

    for (i = 0; i < s->set.nkeys; i++) {
        adm->nginx_keys[i] = tsr_ngx_path(ngx, s->set.keys[i]);
        if (adm->nginx_keys[i] == NULL) {
            return TSR_ADMIN_FAILED;
        }
    }

    if (s->set.rotation != NULL && adm->period_ms == 0
        && tsr_admin_parse_time(s->set.rotation, 0, &adm->period_ms) != 0)
    {
        adm->period_ms = 0;
    }

    if (s->set.timeout != NULL && adm->lifetime_ms == 0
        && tsr_admin_parse_time(s->set.timeout, 1, &adm->lifetime_ms) != 0)
    {
        adm->lifetime_ms = 0;
    }

    return TSR_ADMIN_OK;
}


/* a path as nginx resolves it, against the configuration's directory */

static char *
tsr_ngx_path(tsr_ngx_t *ngx, const char *path)
{
    char    *full;
    size_t   n;

    n = strlen(ngx->dir) + strlen(path) + 1;

    full = malloc(n);
    if (full == NULL) {
        tsr_admin_fail(ngx->adm, "out of memory");
        return NULL;
    }

    (void) snprintf(full, n, "%s%s", (path[0] == '/') ? "" : ngx->dir, path);

    return full;
}


static void
tsr_ngx_free(tsr_ngx_t *ngx)
{
    size_t  i;

    for (i = 0; i < ngx->ntoks; i++) {
        free(ngx->toks[i].text);
    }

    free(ngx->toks);
    free(ngx->files);
    free(ngx->servers);

    /* the dump holds the address, and maybe a password */
    if (ngx->dump != NULL) {
        OPENSSL_cleanse(ngx->dump, ngx->dump_len);
    }

    free(ngx->dump);
}
