"""A python-tuf client: refreshes a repository and downloads targets.

Usage: refresh_and_download.py METADATA_DIR METADATA_URL TARGETS_URL TRUSTED_ROOT OUT_DIR [TARGET ...]

METADATA_DIR persists between runs, as on a device, so each run starts from
what the last one trusted. Prints one JSON object: the trusted versions and,
for each target, where python-tuf wrote it after checking its length and
hashes. A refusal by python-tuf (a RepositoryError or DownloadError) is
printed as {"error": <class name>, "message": ...} with exit status 1.
"""

import json
import os
import sys

from tuf.api.exceptions import DownloadError, RepositoryError
from tuf.api.metadata import Metadata
from tuf.ngclient import Updater


def main(metadata_dir, metadata_url, targets_url, trusted_root, out_dir, *targets):
    with open(trusted_root, "rb") as f:
        bootstrap = f.read()
    updater = Updater(metadata_dir, metadata_url, out_dir, targets_url, bootstrap=bootstrap)
    updater.refresh()
    downloads = {}
    for name in targets:
        info = updater.get_targetinfo(name)
        if info is None:
            raise RepositoryError(f"{name} is not a target of the repository")
        path = os.path.join(out_dir, name.replace("/", "_"))
        updater.download_target(info, path)
        downloads[name] = {"path": path, "length": info.length, "hashes": info.hashes, "custom": info.custom}

    # What python-tuf trusts now, read back from the metadata it persisted.
    def version(role):
        return Metadata.from_file(os.path.join(metadata_dir, f"{role}.json")).signed.version

    return {"root": version("root"), "timestamp": version("timestamp"), "downloads": downloads}


if __name__ == "__main__":
    try:
        result = main(*sys.argv[1:])
    except (RepositoryError, DownloadError) as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(1)
    print(json.dumps(result))
