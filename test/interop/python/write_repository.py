"""Writes a TUF repository with python-tuf's Metadata API, for Uproll to read.

Usage: write_repository.py OUT_DIR

OUT_DIR/repository/ is the repository, with consistent snapshots:
  metadata/1.root.json, timestamp.json, 1.snapshot.json, 1.targets.json,
  1.releases.json; targets/<sha256>.<name> (the hash prefix goes on the
  last path segment). Top-level targets lists notes.txt and delegates
  firmware/* to the role "releases", which lists firmware/app-1.bin.
OUT_DIR/attack/ holds the files that move it on by one version: releases v2
  adds firmware/app-2.bin but was changed after it was signed, so its
  signature does not verify; snapshot v2 and timestamp v2 over it are signed
  correctly, so only the check of the delegated role can refuse it.

Each role has its own key, of several types; the keys are generated here and
never leave this process. Prints the targets as JSON: {name: {length, hashes}}.
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

# Signed at the real time (the reader checks expiry against its clock).
EXPIRES = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
NOTES = b"notes written by python-tuf\n"
APP_1 = b"firmware app 1, listed by a delegated role\n"
APP_2 = b"firmware app 2, in a delegated role changed after it was signed\n"
# Indented, as Metadata.to_file writes by default: not canonical JSON, so a
# reader must check each signature over the canonical form of "signed".
PRETTY = JSONSerializer(compact=False)


def write(directory, path, data):
    full = os.path.join(directory, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


def write_target(directory, target, data):
    # Consistent snapshots: targets/<dir>/<sha256>.<basename>
    dirname, sep, basename = target.path.rpartition("/")
    write(directory, f"targets/{dirname}{sep}{target.hashes['sha256']}.{basename}", data)


def signed_bytes(metadata, signer):
    metadata.sign(signer)
    return metadata.to_bytes(PRETTY)


def main(out_dir):
    repository = os.path.join(out_dir, "repository")
    attack = os.path.join(out_dir, "attack")
    signers = {
        "root": CryptoSigner.generate_ed25519(),
        "targets": CryptoSigner.generate_ed25519(),
        "snapshot": CryptoSigner.generate_rsa(size=2048),  # rsassa-pss-sha256; 2048 bits to be quick
        "timestamp": CryptoSigner.generate_ecdsa(),  # ecdsa-sha2-nistp256
    }
    releases_signer = CryptoSigner.generate_ecdsa()

    root = Metadata(Root(expires=EXPIRES, consistent_snapshot=True))
    for role, signer in signers.items():
        root.signed.add_key(signer.public_key, role)
    write(repository, "metadata/1.root.json", signed_bytes(root, signers["root"]))

    notes = TargetFile.from_data("notes.txt", NOTES)
    top = Metadata(Targets(expires=EXPIRES, targets={notes.path: notes}))
    top.signed.delegations = Delegations(
        keys={},
        roles={"releases": DelegatedRole("releases", [], 1, True, paths=["firmware/*"])},
    )
    top.signed.add_key(releases_signer.public_key, "releases")
    top_bytes = signed_bytes(top, signers["targets"])
    write(repository, "metadata/1.targets.json", top_bytes)
    write_target(repository, notes, NOTES)

    app_1 = TargetFile.from_data("firmware/app-1.bin", APP_1)
    releases = Metadata(Targets(expires=EXPIRES, targets={app_1.path: app_1}))
    write(repository, "metadata/1.releases.json", signed_bytes(releases, releases_signer))
    write_target(repository, app_1, APP_1)

    def commit(directory, version, releases_version):
        snapshot = Metadata(Snapshot(version=version, expires=EXPIRES))
        snapshot.signed.meta["releases.json"] = MetaFile(version=releases_version)
        snapshot_bytes = signed_bytes(snapshot, signers["snapshot"])
        write(directory, f"metadata/{version}.snapshot.json", snapshot_bytes)
        timestamp = Metadata(Timestamp(version=version, expires=EXPIRES))
        timestamp.signed.snapshot_meta = MetaFile.from_data(version, snapshot_bytes, ["sha256"])
        write(directory, "metadata/timestamp.json", signed_bytes(timestamp, signers["timestamp"]))

    commit(repository, 1, 1)

    # The attack: releases v2 signed by its own key, then changed (a target added).
    app_2 = TargetFile.from_data("firmware/app-2.bin", APP_2)
    releases.signed.version = 2
    releases.sign(releases_signer)
    releases.signed.targets[app_2.path] = app_2
    write(attack, "metadata/2.releases.json", releases.to_bytes(PRETTY))
    write_target(attack, app_2, APP_2)
    commit(attack, 2, 2)

    listed = {t.path: {"length": t.length, "hashes": t.hashes} for t in (notes, app_1, app_2)}
    print(json.dumps(listed))


if __name__ == "__main__":
    main(*sys.argv[1:])
