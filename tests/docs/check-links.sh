#!/bin/sh
#
# Checks every relative link and image in README.md, CHANGELOG.md and
# docs/*.md: the file named exists (relative to the document), and a
# "#anchor" names a heading of the target (GitHub's slugs: lowercase,
# punctuation removed, spaces to "-", "-1", "-2" for repeated headings) or
# an explicit <a name="..."> / id="...".  Absolute URLs (http:, https:,
# mailto:, ...) are not followed.  Links inside code (fenced blocks, `spans`)
# are not links.
#
# usage: check-links.sh [--self-test] [DIR]
#   DIR           the source tree (default: $TSR_SRCDIR, $srcdir, or two
#                 levels above this script)
#   --self-test   builds a small tree with a broken file link and a broken
#                 anchor in a temporary directory and checks that both, and
#                 nothing else, are reported
#
# Without --self-test (as make check runs it) the self-test runs first, then
# the tree is checked.  Exit status: 0 when every link resolves, 1 when some
# do not (each named as "document:line: link: reason" on stderr), 2 on a
# usage error or a failed self-test.

set -u

here=$(cd "$(dirname "$0")" && pwd)

exec python3 - "$here" "$@" <<'EOF'
import os
import re
import shutil
import sys
import tempfile

FENCE = re.compile(r'^\s{0,3}(`{3,}|~{3,})')
HEADING = re.compile(r'^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
SETEXT = re.compile(r'^\s{0,3}(=+|-+)\s*$')
INLINE = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)'
                    r'(?:\s+"[^"]*"|\s+\'[^\']*\')?\s*\)')
REFDEF = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)')
HTMLSRC = re.compile(r'<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*"([^"]*)"',
                     re.I)
HTMLID = re.compile(r'<[a-z][^>]*?\b(?:id|name)\s*=\s*"([^"]*)"', re.I)
CODESPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')
SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')


def lines_outside_code(text):
    """(line number, line) of the lines outside fenced code blocks"""
    fence = None
    for n, line in enumerate(text.split('\n'), 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                continue
            yield n, line
        elif m and m.group(1)[0] == fence[0] \
                and len(m.group(1)) >= len(fence) \
                and line.strip() == m.group(1):
            fence = None


def slug(title):
    """GitHub's anchor for a heading's text"""
    t = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', title)   # links: text
    parts = re.split(r'(`+[^`]*`+)', t)                    # html outside code
    t = ''.join(x if x.startswith('`') else re.sub(r'<[^>]+>', '', x)
                for x in parts)
    t = t.strip().lower()
    t = re.sub(r'[^\w\- ]', '', t)                         # punctuation
    return t.replace(' ', '-')


def anchors(path, cache={}):
    if path in cache:
        return cache[path]
    with open(path, encoding='utf-8') as f:
        text = f.read()
    seen = {}
    found = set()
    prev = None
    for _, line in lines_outside_code(text):
        m = HEADING.match(line)
        title = None
        if m:
            title = m.group(2)
        elif prev is not None and prev.strip() and SETEXT.match(line) \
                and not HEADING.match(prev):
            title = prev.strip()
        if title is not None:
            s = slug(title)
            if s in seen:
                seen[s] += 1
                found.add('%s-%d' % (s, seen[s]))
            else:
                seen[s] = 0
                found.add(s)
        for a in HTMLID.findall(line):
            found.add(a)
        prev = line
    cache[path] = found
    return found


def links(text):
    for n, line in lines_outside_code(text):
        bare = CODESPAN.sub('', line)
        for m in INLINE.finditer(bare):
            yield n, m.group(1).strip('<>')
        m = REFDEF.match(bare)
        if m:
            yield n, m.group(1).strip('<>')
        for m in HTMLSRC.finditer(bare):
            yield n, m.group(1)


def check_doc(root, doc):
    """the problems of one document, as strings"""
    problems = []
    path = os.path.join(root, doc)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    for n, link in links(text):
        if link == '' or SCHEME.match(link) or link.startswith('//'):
            continue
        target, _, anchor = link.partition('#')
        target = re.sub(r'\?.*$', '', target)
        where = '%s:%d: %s' % (doc, n, link)
        if target == '':
            dest = path
        else:
            if target.startswith('/'):
                problems.append(where + ': absolute path, not relative')
                continue
            dest = os.path.normpath(os.path.join(os.path.dirname(path),
                                                 target))
            if not os.path.exists(dest):
                problems.append(where + ': no file %s'
                                % os.path.relpath(dest, root))
                continue
        if anchor:
            if not dest.endswith('.md') or os.path.isdir(dest):
                continue
            if anchor not in anchors(dest):
                problems.append(where + ': no heading "#%s" in %s'
                                % (anchor, os.path.relpath(dest, root)))
    return problems


def documents(root):
    docs = []
    for name in ('README.md', 'CHANGELOG.md'):
        if os.path.isfile(os.path.join(root, name)):
            docs.append(name)
    d = os.path.join(root, 'docs')
    if os.path.isdir(d):
        docs += ['docs/' + f for f in sorted(os.listdir(d))
                 if f.endswith('.md')]
    return docs


def check_tree(root, quiet=False):
    docs = documents(root)
    if 'README.md' not in docs:
        print('check-links: no README.md in %s' % root, file=sys.stderr)
        return 2, []
    problems = []
    for doc in docs:
        problems += check_doc(root, doc)
    if not quiet:
        for p in problems:
            print(p, file=sys.stderr)
        print('check-links: %d documents, %d broken links'
              % (len(docs), len(problems)))
    return (1 if problems else 0), problems


def self_test():
    tmp = tempfile.mkdtemp(prefix='check-links.')
    try:
        os.mkdir(os.path.join(tmp, 'docs'))
        with open(os.path.join(tmp, 'README.md'), 'w') as f:
            f.write('# Top\n\n'
                    'See [guide](docs/guide.md#set-up-the-key-file), '
                    '[the C API](docs/guide.md#the-c-api-tsrh), '
                    '[again](docs/guide.md#usage-1), '
                    '[keys](docs/guide.md#keys-prefixs-here), '
                    '![a picture](docs/pic.png), [web](https://example.org/x),'
                    ' [here](#top) and `[not a link](nowhere.md)`.\n\n'
                    'Broken: [gone](docs/missing.md).\n\n'
                    '```\n[in code](absent.md)\n```\n')
        with open(os.path.join(tmp, 'docs', 'guide.md'), 'w') as f:
            f.write('# Guide\n\n## Set up the key file!\n\n'
                    '## The C API (`tsr.h`)\n\n## Usage\n\n## Usage\n\n'
                    '## Keys `<prefix>s:` <em>here</em>\n\n'
                    'Back to the [README](../README.md#top); broken: '
                    '[anchor](../README.md#no-such-heading).\n')
        with open(os.path.join(tmp, 'docs', 'pic.png'), 'wb') as f:
            f.write(b'\x89PNG')
        rc, problems = check_tree(tmp, quiet=True)
        want = [('README.md:', 'docs/missing.md', 'no file'),
                ('docs/guide.md:', '#no-such-heading', 'no heading')]
        ok = rc == 1 and len(problems) == len(want)
        for doc, link, reason in want:
            if not any(p.startswith(doc) and link in p and reason in p
                       for p in problems):
                ok = False
        if not ok:
            print('check-links: self-test FAILED: exit %d, reported:' % rc,
                  file=sys.stderr)
            for p in problems:
                print('  ' + p, file=sys.stderr)
            return 2
        print('check-links: self-test ok (a broken file link and a broken '
              'anchor were both reported, nothing else)')
        return 0
    finally:
        shutil.rmtree(tmp)


def main(argv):
    here = argv[1]
    args = argv[2:]
    only_self_test = False
    if args and args[0] == '--self-test':
        only_self_test = True
        args = args[1:]
    if len(args) > 1 or (args and args[0].startswith('-')):
        print('usage: check-links.sh [--self-test] [DIR]', file=sys.stderr)
        return 2
    rc = self_test()
    if rc != 0 or only_self_test:
        return rc
    if args:
        root = args[0]
    else:
        root = os.environ.get('TSR_SRCDIR') or os.environ.get('srcdir') \
            or os.path.join(here, '..', '..')
    root = os.path.abspath(root)
    rc, _ = check_tree(root)
    return rc


sys.exit(main(sys.argv))
EOF
