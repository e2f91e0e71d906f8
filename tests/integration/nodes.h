
/*
 * The node fixture of test_tickets and test_single_use: a private Redis
 * for the fleet (nodes A and B) and one for another fleet (node C), each
 * fleet with its key file, and three nginx nodes written per test from a
 * node_conf_t (http or stream, tickets, single use, early data).
 */


#ifndef TSR_TEST_NODES_H_INCLUDED
#define TSR_TEST_NODES_H_INCLUDED


#include <limits.h>

#include <openssl/ssl.h>

#include "tsr_test.h"


#define NODE_A            0
#define NODE_B            1
#define NODE_C            2


typedef struct {
    int                 stream;
    int                 workers;        /* 0: 1 */
    int                 tickets;        /* ssl_session_tickets and
                                           ssl_session_redis_ticket_keys on */
    const char         *rotation;       /* NULL: the default, 12h */
    const char         *timeout;        /* ssl_session_timeout, NULL: 10m */
    int                 single_use;
    int                 early_data;
    int                 foreign;        /* the other fleet: node C's Redis
                                           and key */
    int                 redis_port;     /* 0: the fleet's Redis */
    int                 former_names;   /* the directives' names before
                                           the renames */
} node_conf_t;


typedef struct {
    tsr_test_nginx_t    nginx;
    int                 port;
    int                 stream;
    int                 running;
    char                access_log[PATH_MAX + 32];
} node_t;


/* what a client got from one connection */
typedef struct {
    int                 reused;
    int                 sessions;       /* new sessions reported */
    SSL_SESSION        *sess;           /* to offer next, or NULL */
} hs_t;


extern tsr_test_redis_t   redis;
extern tsr_test_redis_t   redis_c;          /* the other fleet's */
extern node_t             nodes[3];
extern tsr_keyring_t     *fleet;
extern char               key_file[PATH_MAX + 16];
extern char               key_file_c[PATH_MAX + 16];


int nodes_init_suite(void);
int nodes_clean_suite(void);
long long real_ms(void);
int write_node(node_t *nd, const node_conf_t *nc);
int start_node(node_t *nd);
int start_nodes(int first, int n);
void stop_nodes(void);
int setup_nodes(int first, int n, const node_conf_t *nc);
int reload_nodes(int first, int n, const node_conf_t *nc);
void check_logs(void);
int log_lines(const char *path, const char *needle);
int handshake(node_t *nd, int version, int tickets,
    SSL_SESSION *offer, hs_t *hs);
void hs_free(hs_t *hs);
int session_keys(tsr_test_redis_t *r, const char *pattern);
int session_key_pattern(const SSL_SESSION *sess, int version,
    char *out, size_t len);
int wait_stored(const SSL_SESSION *sess, int version, int ms);


#endif /* TSR_TEST_NODES_H_INCLUDED */
