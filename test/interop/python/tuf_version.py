"""Prints the python-tuf version; fails when python-tuf or its crypto backend is missing."""

import tuf
from securesystemslib.signer import CryptoSigner  # noqa: F401  (the [crypto] extra)

print(tuf.__version__)
