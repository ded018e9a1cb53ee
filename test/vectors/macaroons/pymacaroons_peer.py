#!/usr/bin/python3
"""A batch peer over Debian's pymacaroons, used by latchkey's interop tests and corpus generator.

Reads a JSON list of operations on stdin and writes a JSON list of results on stdout. Byte values
(keys, identifiers, predicates) are hex so that binary data passes through JSON unchanged.

  {"op": "mint", "version": 1|2, "json": false, "location": "...", "key": HEX, "id": HEX,
   "caveats": [{"fp": HEX} | {"tp": {"location": "...", "key": HEX, "id": HEX}, "nonce": HEX?}]}
      -> {"token": "..."}
  {"op": "bind", "root": TOKEN, "discharge": TOKEN} -> {"token": "..."} (same form as discharge)
  {"op": "verify", "key": HEX, "token": TOKEN, "discharges": [TOKEN], "exact": [TEXT]}
      -> {"ok": true} | {"ok": false, "error": "ExceptionName: message"}
Run with /usr/bin/python3 (Debian's python3-pymacaroons).
"""
import binascii
import json
import sys

from pymacaroons import Macaroon, Verifier, MACAROON_V1, MACAROON_V2
from pymacaroons.serializers.json_serializer import JsonSerializer


def unhex(value):
    return binascii.unhexlify(value)


def parse(token):
    if token.lstrip().startswith("{"):
        return Macaroon.deserialize(token, serializer=JsonSerializer()), True
    return Macaroon.deserialize(token), False


def dump(m, as_json):
    return m.serialize(serializer=JsonSerializer()) if as_json else m.serialize()


def mint(op):
    version = MACAROON_V2 if op.get("version", 2) == 2 else MACAROON_V1
    m = Macaroon(location=op.get("location", ""), identifier=unhex(op["id"]), key=unhex(op["key"]), version=version)
    for caveat in op.get("caveats", []):
        if "fp" in caveat:
            m = m.add_first_party_caveat(unhex(caveat["fp"]))
        else:
            tp = caveat["tp"]
            extra = {"nonce": unhex(caveat["nonce"])} if caveat.get("nonce") else {}
            m = m.add_third_party_caveat(tp["location"], unhex(tp["key"]), unhex(tp["id"]), **extra)
    return {"token": dump(m, op.get("json", False))}


def bind(op):
    root, _ = parse(op["root"])
    discharge, as_json = parse(op["discharge"])
    return {"token": dump(root.prepare_for_request(discharge), as_json)}


def verify(op):
    try:
        m, _ = parse(op["token"])
        discharges = [parse(t)[0] for t in op.get("discharges", [])]
        v = Verifier()
        for predicate in op.get("exact", []):
            v.satisfy_exact(predicate)
        v.verify(m, unhex(op["key"]), discharges)
        return {"ok": True}
    except Exception as error:  # a peer reports every failure as data
        return {"ok": False, "error": "%s: %s" % (type(error).__name__, error)}


def run(op):
    handler = {"mint": mint, "bind": bind, "verify": verify}[op["op"]]
    try:
        return handler(op)
    except Exception as error:
        return {"error": "%s: %s" % (type(error).__name__, error)}


def main():
    ops = json.load(sys.stdin)
    json.dump([run(op) for op in ops], sys.stdout)


if __name__ == "__main__":
    main()
