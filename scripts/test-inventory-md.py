#!/usr/bin/env python3
"""Writes docs/testing-inventory.md from scripts/test-inventory.sh output.

    scripts/test-inventory-md.py BEFORE.tsv AFTER.tsv [AFTER.tsv...] > md

BEFORE.tsv: the programs of the branch point, AFTER.tsv: this tree's.  A
test is matched by program and name, else by name alone (a test that
moved to another program); every test before must be found after.
Programs that exited before registering a test (skipped: exit 77) are
listed from their source's table by the caller (see --skipped).
"""

import sys


def load(paths):
    tests, seconds = [], {}
    for path in paths:
        for line in open(path):
            line = line.rstrip('\n')
            if line.startswith('# '):
                prog, _, sec = line[2:].partition(' seconds=')
                seconds[prog] = int(sec)
                continue
            if not line:
                continue
            prog, name, count = line.split('\t')
            tests.append((prog, name, int(count)))
    return tests, seconds


def short(prog):
    return prog.replace('tests/', '')


def main():
    args = sys.argv[1:]
    skipped = []
    while args and args[0] == '--skipped':
        skipped.append(args[1])
        args = args[2:]
    before, _ = load([args[0]])
    after, _ = load(args[1:])

    by_key = {(p, n): c for p, n, c in after}
    by_name = {}
    for p, n, c in after:
        by_name.setdefault(n, []).append((p, c))

    rows, lost, used = [], [], set()
    for p, n, c in before:
        if (p, n) in by_key:
            rows.append((p, n, c, p, n, by_key[(p, n)], ''))
            used.add((p, n))
        elif len(by_name.get(n, [])) == 1:
            ap, ac = by_name[n][0]
            rows.append((p, n, c, ap, n, ac, 'moved'))
            used.add((ap, n))
        else:
            lost.append((p, n, c))

    new = [(p, n, c) for p, n, c in after if (p, n) not in used]

    out = sys.stdout.write
    out('| before: program | test | asserts | after: program | test | '
        'asserts | note |\n')
    out('|---|---|---:|---|---|---:|---|\n')
    for p, n, c, ap, an, ac, note in rows:
        if note == '' and c != ac:
            note = 'count differs'
        out('| %s | %s | %d | %s | %s | %d | %s |\n'
            % (short(p), n, c, short(ap) if ap != p else '〃', an, ac, note))
    for prog in skipped:
        out('| %s | (skipped on this machine) | | | | | |\n' % short(prog))
    out('\n%d tests before, %d after; %d matched, %d moved, %d lost, '
        '%d new.\n' % (len(before), len(after), len(rows),
                       sum(1 for r in rows if r[6] == 'moved'), len(lost),
                       len(new)))
    out('Assertions: %d before, %d after (the same tests: %d before, %d '
        'after).\n' % (sum(c for _, _, c in before), sum(c for _, _, c in after),
                       sum(r[2] for r in rows), sum(r[5] for r in rows)))
    for p, n, c in lost:
        out('\nLOST: %s: %s (%d asserts)\n' % (short(p), n, c))
    for p, n, c in new:
        out('\nNEW: %s: %s (%d asserts)\n' % (short(p), n, c))


main()
