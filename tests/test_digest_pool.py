"""``reprolam.hashing.digest``: small inputs are hashed by reused hashers, which must give
the digest a fresh one gives, in any thread, and after a call that failed."""

from __future__ import annotations

import threading

import pytest
from blake3 import blake3

from reprolam.context import SEED_BITS, derive_seed, seed_after, seed_prefix
from reprolam.hashing import digest, digest_bytes


def test_a_reused_hasher_starts_from_nothing() -> None:
    first, second = b"a" * 100, b"b" * 3
    assert digest(first) == blake3(first).hexdigest()
    assert digest(second) == blake3(second).hexdigest()  # not first + second
    assert digest(b"") == blake3(b"").hexdigest()
    assert digest_bytes(second, 4) == blake3(second).digest(4)


def test_a_failed_call_leaves_no_state_behind() -> None:
    with pytest.raises(TypeError):
        digest("text, not bytes")  # type: ignore[arg-type]
    assert digest(b"x") == blake3(b"x").hexdigest()


def test_threads_hashing_at_once_each_get_their_own_digest() -> None:
    inputs = [bytes([i]) * (i * 997 % 5000) for i in range(64)]
    wrong: list[int] = []
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(200):
            for i, data in enumerate(inputs):
                if digest(data) != blake3(data).hexdigest():
                    wrong.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_a_seed_is_the_same_number_however_it_is_derived() -> None:
    for last in (0, 1, 17, "x"):
        assert seed_after(seed_prefix(42, "train"), last) == derive_seed(42, "train", last)
        assert seed_after(seed_prefix(42, "train"), last) < 2**SEED_BITS
