#!/usr/bin/env python3
# Compares the session records of a damaged capture with those of the intact
# one, per session (joined on client, client_port, server, server_port,
# start), field by field: how many sessions read differently once segments
# were lost. All files are `op25b ingest ... -o X.csv` output.
#
# usage: gap_compare.py INTACT.csv DAMAGED.csv [--best NEUTRAL.csv] [--list N]
#
# --best: the records of drop_server_segments.py's --neutral copy, where the
# lost replies are still there with their codes replaced: what a reader that
# knew exactly which replies the holes held, and nothing of what they said,
# would read. The outcome is then the one CONTRACT.md gives a session with a
# gap. Sessions read other than that were misread, not just damaged.
# --list N prints the first N differing sessions.
# Standard library only.
import csv
import sys
from collections import Counter

KEY = ('client', 'client_port', 'server', 'server_port', 'start')
FIELDS = ('outcome', 'messages', 'rcpt_accepted', 'rcpt_rejected', 'transactions',
          'greeting_code', 'helo', 'tls', 'auth')


def load(path):
    with open(path, newline='') as f:
        return {tuple(r[k] for k in KEY): r for r in csv.DictReader(f)}


def best(neutral, damaged):
    """The best reading of each damaged session."""
    out = {}
    for k, r in neutral.items():
        b = dict(r)
        if b['greeting_code'] == '399':
            b['greeting_code'] = '0'  # the greeting was lost
        gaps = k in damaged and damaged[k]['gaps'] == 'true'
        if b['outcome'] not in ('no_answer', 'reset', 'encrypted'):
            if int(b['messages']) > 0:
                b['outcome'] = 'delivered'
            elif int(b['greeting_code']) >= 400:
                b['outcome'] = 'rejected'
            elif gaps:
                b['outcome'] = 'partial'
        out[k] = b
    return out


def report(title, ref, damaged, show):
    common = ref.keys() & damaged.keys()
    by_field = Counter()
    differ = []
    transitions = Counter()
    for k in sorted(common):
        a, b = ref[k], damaged[k]
        fields = [f for f in FIELDS if a[f] != b[f]]
        for f in fields:
            by_field[f] += 1
        if fields:
            differ.append((k, fields))
        if a['outcome'] != b['outcome']:
            transitions[f"{a['outcome']}->{b['outcome']}"] += 1
    print(f'{title}: {len(differ)} sessions differ')
    print('  by field: ' + ', '.join(f'{f}={by_field[f]}' for f in FIELDS))
    print('  outcome: ' + (', '.join(f'{t}={n}' for t, n in sorted(transitions.items())) or 'same'))
    for k, fields in differ[:show]:
        print('  ' + ' '.join(k) + ': ' + ', '.join(
            f'{f} {ref[k][f]}->{damaged[k][f]}' for f in fields))


def main():
    args = sys.argv[1:]
    show = int(args[args.index('--list') + 1]) if '--list' in args else 0
    neutral = load(args[args.index('--best') + 1]) if '--best' in args else None
    intact, damaged = load(args[0]), load(args[1])
    common = intact.keys() & damaged.keys()
    gapped = {k for k in common if damaged[k]['gaps'] == 'true' and intact[k]['gaps'] != 'true'}
    print(f'sessions: intact {len(intact)}, damaged {len(damaged)}, joined {len(common)}; '
          f'with a gap in the damaged copy only: {len(gapped)}')
    report('against the intact capture', intact, damaged, show)
    if neutral is not None:
        ideal = best(neutral, damaged)
        cant = sum(1 for k in ideal.keys() & intact.keys()
                   if any(ideal[k][f] != intact[k][f] for f in FIELDS))
        print(f'the best reading differs from the intact one in {cant} sessions')
        report('against the best reading', ideal, damaged, show)


if __name__ == '__main__':
    main()
