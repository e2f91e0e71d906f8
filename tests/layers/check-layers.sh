#!/bin/sh
#
# Checks the store's layering (docs/architecture.md) in the source tree,
# following quoted #includes transitively:
#   - the connection layer (tsr_conn, tsr_sync, tsr_server*) includes no
#     store, router or topology header;
#   - a topology (tsr_single.c, tsr_cluster.c, tsr_sentinel.c) does not
#     include the store's own header (tsr_store.h) nor another topology's
#     header, and names no other topology's ops table;
#   - no file declares hiredis' internal redisProcessCallbacks().
#
# usage: check-layers.sh [--self-test] [DIR]
#   DIR           the source tree (default: $TSR_SRCDIR, $srcdir, or two
#                 levels above this script)
#   --self-test   builds a small tree that breaks each rule once, in a
#                 temporary directory, and checks that each break, and
#                 nothing else, is reported
#
# Without --self-test (as make check runs it) the self-test runs first.
# Exit status: 0 when the layering holds, 1 when it does not (each break
# named on stderr), 2 on a usage error or a failed self-test.

set -u

here=$(cd "$(dirname "$0")" && pwd)

exec python3 - "$here" "$@" <<'EOF'
import os
import re
import shutil
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

CONN = ['tsr_conn.c', 'tsr_conn.h', 'tsr_sync.c', 'tsr_sync.h',
        'tsr_server.c', 'tsr_server_ops.c', 'tsr_server.h']
ABOVE_CONN = ['tsr_store.h', 'tsr_topo.h', 'tsr_router.h', 'tsr_cluster.h',
              'tsr_sentinel.h']
TOPOLOGIES = {
    'tsr_single.c': ('tsr_topo_single', []),
    'tsr_cluster.c': ('tsr_topo_cluster', ['tsr_cluster.h']),
    'tsr_sentinel.c': ('tsr_topo_sentinel', ['tsr_sentinel.h']),
}


def closure(d, name, seen=None):
    """every header "name" includes, directly or not, that exists in d"""
    seen = set() if seen is None else seen
    path = os.path.join(d, name)
    if not os.path.exists(path):
        return seen
    with open(path, encoding='utf-8') as f:
        text = f.read()
    for inc in INCLUDE.findall(text):
        if inc not in seen and os.path.exists(os.path.join(d, inc)):
            seen.add(inc)
            closure(d, inc, seen)
    return seen


def strip_comments(text):
    return re.sub(r'/\*.*?\*/', '', text, flags=re.S)


def check(d):
    errors = []
    for name in CONN:
        if not os.path.exists(os.path.join(d, name)):
            errors.append('%s: missing' % name)
            continue
        for inc in sorted(closure(d, name) & set(ABOVE_CONN)):
            errors.append('%s: the connection layer includes %s'
                          % (name, inc))
    for name, (ops, own) in sorted(TOPOLOGIES.items()):
        if not os.path.exists(os.path.join(d, name)):
            errors.append('%s: missing' % name)
            continue
        incs = closure(d, name)
        if 'tsr_store.h' in incs:
            errors.append('%s: a topology includes tsr_store.h' % name)
        for other, (other_ops, other_own) in sorted(TOPOLOGIES.items()):
            if other == name:
                continue
            for inc in other_own:
                if inc in incs:
                    errors.append('%s: includes %s, another topology\'s'
                                  % (name, inc))
            with open(os.path.join(d, name), encoding='utf-8') as f:
                code = strip_comments(f.read())
            if re.search(r'\b%s\b' % other_ops, code):
                errors.append('%s: names %s' % (name, other_ops))
    for name in sorted(os.listdir(d)):
        if not name.endswith(('.c', '.h')):
            continue
        with open(os.path.join(d, name), encoding='utf-8') as f:
            code = strip_comments(f.read())
        if re.search(r'\bredisProcessCallbacks\b', code):
            errors.append('%s: uses redisProcessCallbacks()' % name)
    return errors


def self_test():
    t = tempfile.mkdtemp(prefix='tsr-layers-')
    try:
        files = {
            'tsr_conn.c': '#include "tsr_conn.h"\n',
            'tsr_conn.h': '#include "tsr.h"\n',
            'tsr_sync.c': '#include "tsr_sync.h"\n',
            'tsr_sync.h': '#include "tsr.h"\n',
            'tsr_server.h': '#include "tsr_conn.h"\n#include "tsr_sync.h"\n',
            'tsr_server.c': '#include "tsr_server.h"\n',
            # break 1: the connection layer, through another header
            'tsr_server_ops.c': '#include "tsr_server.h"\n#include "x.h"\n',
            'x.h': '#include "tsr_topo.h"\n',
            'tsr_topo.h': '#include "tsr_router.h"\n',
            'tsr_router.h': '#include "tsr_server.h"\n',
            'tsr_store.h': '#include "tsr_router.h"\n',
            'tsr_cluster.h': '#include "tsr_server.h"\n',
            'tsr_sentinel.h': '#include "tsr_server.h"\n',
            # break 2: a topology includes the store
            'tsr_single.c': '#include "tsr_topo.h"\n#include "tsr_store.h"\n',
            # break 3: another topology's header; 4: its ops table
            'tsr_cluster.c': '#include "tsr_cluster.h"\n#include "tsr_topo.h"\n'
                             '#include "tsr_sentinel.h"\n',
            'tsr_sentinel.c': '#include "tsr_sentinel.h"\n'
                              '#include "tsr_topo.h"\n'
                              '/* tsr_topo_single, in a comment: fine */\n'
                              'static const void *p = &tsr_topo_cluster;\n',
            # break 5: the hiredis internal
            'tsr_store.c': 'void redisProcessCallbacks(void *ac);\n',
            'tsr.h': '',
        }
        for name, text in files.items():
            with open(os.path.join(t, name), 'w', encoding='utf-8') as f:
                f.write(text)
        got = sorted(check(t))
        want = sorted([
            'tsr_server_ops.c: the connection layer includes tsr_router.h',
            'tsr_server_ops.c: the connection layer includes tsr_topo.h',
            'tsr_single.c: a topology includes tsr_store.h',
            'tsr_cluster.c: includes tsr_sentinel.h, another topology\'s',
            'tsr_sentinel.c: names tsr_topo_cluster',
            'tsr_store.c: uses redisProcessCallbacks()',
        ])
        if got != want:
            sys.stderr.write('check-layers self-test failed:\n  got:  %s\n'
                             '  want: %s\n' % (got, want))
            return False
        return True
    finally:
        shutil.rmtree(t)


def main(argv):
    here = argv[1]
    args = argv[2:]
    if args and args[0] == '--self-test':
        return 0 if self_test() else 2
    if len(args) > 1:
        sys.stderr.write('usage: check-layers.sh [--self-test] [DIR]\n')
        return 2
    top = (args[0] if args
           else os.environ.get('TSR_SRCDIR') or os.environ.get('srcdir')
           or os.path.join(here, '..', '..'))
    if not self_test():
        return 2
    d = os.path.join(top, 'module', 'tsr')
    errors = check(d)
    for e in errors:
        sys.stderr.write('module/tsr/%s\n' % e)
    if not errors:
        print('layers: the connection layer, the topologies and the store '
              'include what they may')
    return 1 if errors else 0


sys.exit(main(sys.argv))
EOF
