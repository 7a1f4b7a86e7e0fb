"""Long run of the proxy attack corpus (not a test): many rounds, several attackers at once, several
well-behaved clients alongside.

    .venv/bin/python bench/proxy_attack.py [--rounds 20] [--attackers 4] [--clients 4] [--workers 2]

The corpus, the checks and the well-behaved client are those of
``plugins/proxy-builtin/tests/test_attack_corpus.py`` (which runs each case once in the test suite). Every
attacker thread plays the whole corpus (shuffled) ``--rounds`` times, each case followed by a fresh visitor who
must get its own answer; each well-behaved client does keep-alive requests carrying a marker the backend echoes.
Prints the counts and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins" / "proxy-builtin" / "src"))


def load_corpus():  # type: ignore[no-untyped-def]
    path = ROOT / "plugins" / "proxy-builtin" / "tests" / "test_attack_corpus.py"
    spec = importlib.util.spec_from_file_location("proxy_attack_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20, help="times each attacker plays the whole corpus")
    ap.add_argument("--attackers", type=int, default=4, help="attacker threads at once")
    ap.add_argument("--clients", type=int, default=4, help="well-behaved keep-alive clients alongside")
    ap.add_argument("--workers", type=int, default=1, help="proxy worker processes")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    corpus = load_corpus()
    # The test backend logs a traceback for every request body the proxy cut short on purpose: not news here.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    from tests.support.proxy import HttpBackend, SyncProxy

    backend = HttpBackend("corpus")
    proxy = SyncProxy(
        Path(tempfile.mkdtemp(prefix="rivetr-attack-")), workers=args.workers, **corpus.SETTINGS
    )
    proxy.set_route(corpus.HOST, backend.address)
    good = [corpus.GoodClient(proxy.port, f"good{i}") for i in range(args.clients)]
    for g in good:
        g.start()

    failures: list[str] = []
    played: Counter[str] = Counter()
    lock = threading.Lock()

    def attacker(index: int) -> None:
        rng = random.Random(args.seed * 1000 + index)
        for r in range(args.rounds):
            cases = list(corpus.CORPUS)
            rng.shuffle(cases)
            for case in cases:
                problem = corpus.check(proxy.port, case)
                after = corpus.victim(proxy.port, f"a{index}r{r}-{case.name}")
                with lock:
                    played[case.name] += 1
                    failures.extend(p for p in (problem, after) if p)

    start = time.monotonic()
    threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(args.attackers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    for g in good:
        g.stop.set()
    for g in good:
        g.join(10)
    up = proxy.status()["ok"]
    proxy.close()
    backend.stop()

    good_failures = [f for g in good for f in g.failures]
    print(
        f"corpus: {len(corpus.CORPUS)} cases; played {sum(played.values())} ({args.attackers} attackers x "
        f"{args.rounds} rounds) in {took:.1f} s, each followed by a victim request"
    )
    print(f"attack/victim failures: {len(failures)}")
    for f in failures[:20]:
        print("  ", f)
    print(
        f"well-behaved clients: {len(good)}, requests {sum(g.requests for g in good)}, "
        f"failures {len(good_failures)}, reconnects after an idle close {sum(g.reconnects for g in good)}"
    )
    for f in good_failures[:20]:
        print("  ", f)
    print(f"proxy still up: {up}")
    return 1 if failures or good_failures or not up else 0


if __name__ == "__main__":
    sys.exit(main())
