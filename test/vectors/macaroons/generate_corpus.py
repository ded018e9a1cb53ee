#!/usr/bin/python3
"""Generate corpus.json: macaroons minted by pymacaroons and libmacaroons, with the outcome
latchkey must reach for each. Run from the repository root:

    /usr/bin/python3 test/vectors/macaroons/generate_corpus.py

It reads scenarios.json, mints every scenario with Debian's pymacaroons (v1 and v2, binary and
JSON, with nonces fixed so the pymacaroons part is reproducible) and with libmacaroons through
peer.c (compiled here with `cc -lmacaroons`; its nonces are random), and derives negatives:
wrong key, unsatisfied caveat, unbound discharge, missing discharge, removed and altered caveat.
"""
import binascii
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

from pymacaroons import Macaroon, MACAROON_V1, MACAROON_V2
from pymacaroons.serializers.json_serializer import JsonSerializer

HERE = os.path.dirname(os.path.abspath(__file__))


def raw(field):
    return field["utf8"].encode("utf-8") if "utf8" in field else binascii.unhexlify(field["hex"])


def predicates(caveats):
    """Every first-party predicate of a caveat list and of its discharges, depth first."""
    out = []
    for c in caveats:
        if "fp" in c:
            out.append(c["fp"])
        else:
            out.extend(predicates(c["discharge"]["caveats"]))
    return out


class PyMinter:
    name = "pymacaroons"

    def __init__(self, version, as_json, label):
        self.version = version
        self.as_json = as_json
        self.label = label
        self.counter = 0

    def nonce(self):
        self.counter += 1
        return hashlib.sha256(("%s/%d" % (self.label, self.counter)).encode()).digest()[:24]

    def mint(self, location, key, identifier, caveats):
        m = Macaroon(location=location, identifier=identifier, key=key, version=self.version)
        for c in caveats:
            if "fp" in c:
                m = m.add_first_party_caveat(c["fp"])
            else:
                tp = c["tp"]
                m = m.add_third_party_caveat(tp["location"], raw(tp["key"]), raw(tp["id"]), nonce=self.nonce())
        return m

    def dump(self, m):
        return m.serialize(serializer=JsonSerializer()) if self.as_json else m.serialize()

    def bind(self, root, discharge):
        return root.prepare_for_request(discharge)


class CMinter:
    name = "libmacaroons"
    as_json = False

    def __init__(self, peer):
        self.peer = peer

    def call(self, *args):
        result = subprocess.run([self.peer] + list(args), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("libmacaroons peer failed: %s %s" % (result.stdout, result.stderr))
        return result.stdout.strip()

    def mint(self, location, key, identifier, caveats):
        args = ["mint", location.encode().hex(), key.hex(), identifier.hex()]
        for c in caveats:
            if "fp" in c:
                args += ["fp", c["fp"].encode().hex()]
            else:
                tp = c["tp"]
                args += ["tp", tp["location"].encode().hex(), raw(tp["key"]).hex(), raw(tp["id"]).hex()]
        return self.call(*args)

    def dump(self, m):
        return m

    def bind(self, root, discharge):
        return self.call("bind", root, discharge)


def build(minter, scenario):
    """The root and its bound discharges (depth first), plus the unbound discharges."""
    root = minter.mint(scenario["location"], raw(scenario["rootKey"]), raw(scenario["identifier"]), scenario["caveats"])
    bound, unbound = [], []

    def walk(caveats):
        for c in caveats:
            if "tp" in c:
                d = c["discharge"]
                dm = minter.mint(d.get("location", ""), raw(c["tp"]["key"]), raw(c["tp"]["id"]), d["caveats"])
                unbound.append(minter.dump(dm))
                bound.append(minter.dump(minter.bind(root, dm)))
                walk(d["caveats"])

    walk(scenario["caveats"])
    return root, bound, unbound


def entries_for(minter, scenario, fmt):
    root, bound, unbound = build(minter, scenario)
    key = raw(scenario["rootKey"]).hex()
    satisfy = predicates(scenario["caveats"])
    token = minter.dump(root)
    base = {"scenario": scenario["name"], "producer": minter.name, "format": fmt, "rootKey": key}
    out = [dict(base, name="valid", token=token, discharges=bound, satisfy=satisfy, expect="ok")]
    out.append(dict(base, name="wrong-key", token=token, discharges=bound, satisfy=satisfy,
                    rootKey=hashlib.sha256(b"wrong" + raw(scenario["rootKey"])).hexdigest(), expect="ERR_MACAROON_SIGNATURE"))
    if satisfy:
        out.append(dict(base, name="unsatisfied", token=token, discharges=bound, satisfy=satisfy[:-1],
                        expect="ERR_MACAROON_CAVEAT_UNSATISFIED"))
    if bound:
        out.append(dict(base, name="unbound-discharge", token=token, discharges=unbound[:1] + bound[1:], satisfy=satisfy,
                        expect="ERR_MACAROON_SIGNATURE"))
        out.append(dict(base, name="missing-discharge", token=token, discharges=bound[:-1], satisfy=satisfy,
                        expect="ERR_MACAROON_DISCHARGE_MISSING"))
    if isinstance(minter, PyMinter):
        removed = root.copy()
        removed.caveats.pop()
        out.append(dict(base, name="removed-caveat", token=minter.dump(removed), discharges=bound, satisfy=satisfy,
                        expect="ERR_MACAROON_SIGNATURE"))
        altered = root.copy()
        for c in altered.caveats:
            if c.verification_key_id is None:
                c.caveat_id = c.caveat_id_bytes + b"!"
                break
        out.append(dict(base, name="altered-caveat", token=minter.dump(altered), discharges=bound,
                        satisfy=satisfy + [p + "!" for p in satisfy], expect="ERR_MACAROON_SIGNATURE"))
    return out


def main():
    scenarios = json.load(open(os.path.join(HERE, "scenarios.json")))["scenarios"]
    corpus = []
    for s in scenarios:
        binary_ok = s.get("utf8Only", True)
        for version, as_json, fmt in [(MACAROON_V1, False, "v1"), (MACAROON_V1, True, "v1j"),
                                      (MACAROON_V2, False, "v2"), (MACAROON_V2, True, "v2j")]:
            if version == MACAROON_V1 and not binary_ok:
                continue  # pymacaroons' v1 writer requires UTF-8 identifiers
            corpus += entries_for(PyMinter(version, as_json, "%s/%s" % (s["name"], fmt)), s, fmt)
    tmp = tempfile.mkdtemp()
    try:
        peer = os.path.join(tmp, "peer")
        subprocess.run(["cc", "-O1", "-o", peer, os.path.join(HERE, "peer.c"), "-lmacaroons"], check=True)
        for s in scenarios:
            corpus += entries_for(CMinter(peer), s, "v1")
    finally:
        shutil.rmtree(tmp)
    doc = {
        "description": "Macaroons minted by pymacaroons and libmacaroons with the outcome latchkey must reach. "
                       "Generated by generate_corpus.py from scenarios.json; do not edit by hand.",
        "generator": "test/vectors/macaroons/generate_corpus.py",
        "peers": {"pymacaroons": "Debian python3-pymacaroons 0.13.0", "libmacaroons": "Debian libmacaroons 0.3.0"},
        "entries": corpus,
    }
    with open(os.path.join(HERE, "corpus.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    sys.stdout.write("wrote %d entries\n" % len(corpus))


if __name__ == "__main__":
    main()
