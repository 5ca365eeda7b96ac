"""`landscape run` over processes: a partner that dies between the join and the token exchange
is one line, exit 2, and nothing written."""

import sys
from pathlib import Path

SCRIPTS = Path(__file__).parent / "scripts"


def test_a_partner_that_dies_after_joining_is_one_line_and_nothing_is_written(tmp_path):
    # process 1 dies; the death of process 0 (the coordination service) ends its partners from
    # a C++ thread of JAX's (no Python hook: see landscape.lab.cli._exchange)
    dies = 1
    sys.path.insert(0, str(SCRIPTS))
    from process_group import ProcessGroup, child_env, free_port

    address, folder = f"127.0.0.1:{free_port()}", tmp_path / "out"
    runs = [sys.executable, "-m", "landscape", "run", "xor_train", "--smoke", "--no-progress",
            "--out", str(folder), "--coordinator", address, "--num-processes", "2",
            "--process-id"]
    commands = [[sys.executable, str(SCRIPTS / "join_then_die.py"), address, "2", str(i)]
                if i == dies else runs + [str(i)] for i in range(2)]
    group = ProcessGroup(commands, [tmp_path / f"process_{i}.log" for i in range(2)],
                         [child_env(LANDSCAPE_PEER_TIMEOUT="3")] * 2)
    codes, texts = group.wait(timeout=90)
    live = 1 - dies
    assert codes[dies] == 9 and codes[live] == 2, texts
    assert texts[live] == (f"landscape: error: process {dies} of 2 joined, then gave no answer "
                           f"within 3 s (DEADLINE_EXCEEDED: it stopped); nothing was run: start "
                           "all 2 processes again\n")
    assert not folder.exists()
