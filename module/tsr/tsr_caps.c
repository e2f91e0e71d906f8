
/*
 * Server capabilities, see tsr_caps.h: the version line of INFO, read as
 * untrusted input, and the messages that name what a server lacks.
 */


#include "tsr_caps.h"

#include <stdio.h>
#include <string.h>


#define TSR_CAPS_FIELD  "redis_version:"


static const char *tsr_caps_line(const char *p, size_t len);
static int tsr_caps_parse(tsr_caps_t *caps, const char *p, size_t len);


void
tsr_caps_info(tsr_caps_t *caps, const redisReply *reply)
{
    size_t       i, j, n;
    const char  *p;

    caps->version = 0;
    caps->state = TSR_CAPS_REFUSED;

    if (reply == NULL) {
        (void) snprintf(caps->text, sizeof(caps->text), "no reply");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* a renamed or forbidden INFO: the start of the error, printable */
        n = (reply->str != NULL) ? reply->len : 0;
        n = (n < 40) ? n : 40;

        (void) snprintf(caps->text, sizeof(caps->text), "INFO refused: ");
        p = reply->str;
        j = strlen(caps->text);

        for (i = 0; i < n && j < sizeof(caps->text) - 1; i++, j++) {
            caps->text[j] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
        }

        caps->text[j] = '\0';

        return;
    }

    if (reply->type != REDIS_REPLY_STRING || reply->str == NULL) {
        (void) snprintf(caps->text, sizeof(caps->text),
                        "INFO answered with reply type %d", reply->type);
        return;
    }

    p = tsr_caps_line(reply->str, reply->len);

    if (p == NULL
        || tsr_caps_parse(caps, p, reply->len - (size_t) (p - reply->str))
           != 0)
    {
        caps->version = 0;
        (void) snprintf(caps->text, sizeof(caps->text),
                        "INFO shows no valid redis_version");
        return;
    }

    caps->state = TSR_CAPS_KNOWN;
}


/* the value of the first line that starts "redis_version:", or NULL */

static const char *
tsr_caps_line(const char *p, size_t len)
{
    size_t       flen;
    const char  *end, *nl;

    flen = sizeof(TSR_CAPS_FIELD) - 1;
    end = p + len;

    while (p < end) {
        if ((size_t) (end - p) > flen && memcmp(p, TSR_CAPS_FIELD, flen) == 0)
        {
            return p + flen;
        }

        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            return NULL;
        }

        p = nl + 1;
    }

    return NULL;
}


/*
 * "MAJOR.MINOR.PATCH" up to the end of the line, each part 1 to 3
 * digits; anything else on the line makes the version invalid.
 */

static int
tsr_caps_parse(tsr_caps_t *caps, const char *p, size_t len)
{
    size_t    i, part, digits;
    unsigned  v[3];

    part = 0;
    digits = 0;
    v[0] = 0;
    v[1] = 0;
    v[2] = 0;

    for (i = 0; i < len && p[i] != '\r' && p[i] != '\n'; i++) {

        if (p[i] >= '0' && p[i] <= '9') {
            if (++digits > 3) {
                return -1;
            }

            v[part] = v[part] * 10 + (unsigned) (p[i] - '0');
            continue;
        }

        if (p[i] != '.' || digits == 0 || part == 2) {
            return -1;
        }

        part++;
        digits = 0;
    }

    if (part != 2 || digits == 0) {
        return -1;
    }

    caps->version = tsr_caps_version(v[0], v[1], v[2]);

    (void) snprintf(caps->text, sizeof(caps->text), "%u.%u.%u", v[0], v[1],
                    v[2]);

    return 0;
}


int
tsr_caps_auth_no_user(const redisReply *reply)
{
    static const char  msg[] = "ERR wrong number of arguments";

    return reply != NULL && reply->type == REDIS_REPLY_ERROR
           && reply->str != NULL && reply->len >= sizeof(msg) - 1
           && memcmp(reply->str, msg, sizeof(msg) - 1) == 0;
}


int
tsr_caps_check(const tsr_caps_t *caps, const char *addr, int user,
    int no_user, char *err, size_t errlen)
{
    if (!no_user
        && !(user && caps->state == TSR_CAPS_KNOWN
             && caps->version < TSR_CAPS_ACL))
    {
        return 0;
    }

    if (caps->state == TSR_CAPS_KNOWN) {
        (void) snprintf(err, errlen, "redis at %s is %s: user= needs ACL "
                        "users, Redis 6.0 or later", addr, caps->text);

    } else {
        (void) snprintf(err, errlen, "redis at %s is older than 6.0 (AUTH "
                        "takes no user name): user= needs ACL users, "
                        "Redis 6.0 or later", addr);
    }

    return -1;
}
