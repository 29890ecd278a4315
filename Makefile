.PHONY: run cli test bench registry screenshot lint clean

# NAME reaches the scripts as one word, whatever it holds (NAME='bad name' gets a clear refusal).
export NAME

# The desktop app: installs, starts a local registry if none answers, asks who you are.
# make run   or   NAME=alice make run   (a second terminal: NAME=bob make run)
run:
	@scripts/run.sh $${NAME:+"$$NAME"}

# The same in a terminal: NAME=alice make cli   (a second terminal: NAME=bob make cli)
cli:
	@scripts/cli.sh $${NAME:+"$$NAME"}

# The whole suite as CI runs it: ruff, mypy --strict, import-linter, pytest.
test:
	@scripts/test.sh

# Figures: end-to-end messages/s between two peers and registry lookups/s, each encrypted and
# with a pass-through secure channel side by side (the ratio is what encryption costs), the same
# peers relayed through the registry beside direct (rate, registry CPU per relayed MB, latency,
# first message to a peer listening nowhere), a group of 20 member processes (rate beside
# one-to-one, catch-up from one member, sync bytes), secure handshakes/s to a registry and to a peer,
# 20,000 sends piped into chinwag-cli --json beside the use case's own rate, storage, and how the
# desktop app takes a burst of 5,000 messages and a 72 KB paste (needs xvfb, which make test
# installs); the registry at scale beside Redis, presence at 10,000 clients (CPU per watcher,
# memory per client over TCP and WebSocket, beside plain asyncio), and two registries on one
# Redis beside one (lookups/s, cross-registry presence latency beside a pub/sub round trip);
# export (JSON lines, text, HTML) and import of 1,000,000 messages (messages/s, peak memory)
# beside a plain SELECT and a plain executemany.
bench:
	@scripts/bootstrap.sh
	.venv/bin/python benchmarks/bench_messages.py
	.venv/bin/python benchmarks/bench_relay.py
	.venv/bin/python benchmarks/bench_groups.py
	.venv/bin/python benchmarks/bench_files.py
	.venv/bin/python benchmarks/bench_json.py
	.venv/bin/python benchmarks/bench_registry.py
	.venv/bin/python benchmarks/bench_handshakes.py
	.venv/bin/python benchmarks/bench_storage.py
	.venv/bin/python benchmarks/bench_data.py
	.venv/bin/python benchmarks/bench_gui.py
	.venv/bin/python benchmarks/bench_registry_scale.py
	.venv/bin/python benchmarks/bench_registry_presence.py
	.venv/bin/python benchmarks/bench_registry_redis.py

# Remake the screenshots in docs/ under Xvfb (two windows chatting, a key change and its Verify…
# dialog, the new chat dialog, and it finding who is online, unread messages with the divider,
# the Chat menu, the connection doctor, a group, files, the Back up dialog and the sign-in card's
# Restore from backup…); needs xvfb and imagemagick.
screenshot:
	@scripts/bootstrap.sh
	@command -v Xvfb >/dev/null && command -v import >/dev/null || { apt-get update -qq && apt-get install -y -qq xvfb imagemagick; }
	.venv/bin/python scripts/screenshot.py
	.venv/bin/python scripts/screenshot_keys.py
	.venv/bin/python scripts/screenshot_doctor.py
	.venv/bin/python scripts/screenshot_groups.py
	.venv/bin/python scripts/screenshot_data.py
	CHINWAG_SCREENSHOT_DIR=docs .venv/bin/pytest -q tests/integration/test_gui_files.py

# Just a registry, in the foreground.
registry:
	@scripts/bootstrap.sh
	.venv/bin/chinwag-registry

lint:
	@scripts/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
