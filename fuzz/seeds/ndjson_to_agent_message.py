# NDJSON evidence (canonical JSON, as `gamsa-agent scan` prints it) to
# AgentMessage protobuf seeds: a Hello, one batch per evidence, one batch of all.
import sys, json
sys.path.insert(0, "pb")
from google.protobuf import json_format
from gamsa.v1 import ingest_pb2, evidence_pb2
out = sys.argv[2]
evs = []
for line in open(sys.argv[1]):
    ev = evidence_pb2.Evidence()
    json_format.Parse(line, ev)
    evs.append(ev)
m = ingest_pb2.AgentMessage()
m.hello.agent_id = "agent-1"; m.hello.host = "fuzz-seed-host"; m.hello.agent_version = "0.1.0"
m.hello.os = "Debian 12"; m.hello.kernel = "6.1.0"
open(f"{out}/hello.bin", "wb").write(m.SerializeToString())
for i, ev in enumerate(evs):
    m = ingest_pb2.AgentMessage()
    m.batch.seq = i + 1
    m.batch.evidence.append(ev)
    open(f"{out}/batch-{ev.probe}.bin", "wb").write(m.SerializeToString())
m = ingest_pb2.AgentMessage(); m.batch.seq = 99; m.batch.evidence.extend(evs)
open(f"{out}/batch-all.bin", "wb").write(m.SerializeToString())
