#!/usr/bin/env python3
"""The two blob calls bench/azurite.sh needs, signed with Shared Key, standard library only (no Azure SDK to install).

    blob.py put  BLOB_ENDPOINT ACCOUNT KEY CONTAINER NAME FILE   create the container if missing, upload FILE as one block blob
    blob.py list BLOB_ENDPOINT ACCOUNT KEY CONTAINER              print the names of the blobs in CONTAINER (none if it is missing)

BLOB_ENDPOINT is the connection string's BlobEndpoint, e.g. http://127.0.0.1:10000/devstoreaccount1 (Azurite, path-style).
Meant for Azurite's development account only: the key is passed on the command line.
"""
import base64
import email.utils
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

VERSION = "2021-08-06"  # Put Blob takes up to 5,000 MiB in one request from 2019-12-12 on


def request(endpoint, account, key, method, path, query=None, body=b"", headers=None):
    """One signed request (Shared Key, https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key)."""
    query = query or {}
    headers = {"x-ms-date": email.utils.formatdate(usegmt=True), "x-ms-version": VERSION, **(headers or {})}
    if method in ("PUT", "POST"):
        # urllib sends application/x-www-form-urlencoded when none is set: set it here, so it is signed too.
        headers.setdefault("Content-Type", "application/octet-stream")
    url = endpoint.rstrip("/") + path
    parsed = urllib.parse.urlsplit(url)
    length = str(len(body)) if body else ""
    canonical_headers = "".join(f"{k.lower()}:{v}\n" for k, v in sorted(headers.items(), key=lambda kv: kv[0].lower())
                                if k.lower().startswith("x-ms-"))
    # The canonical resource is /ACCOUNT followed by the URL's path; with Azurite's path-style URLs the path
    # itself starts with /ACCOUNT again.
    resource = f"/{account}{parsed.path}" + "".join(f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
    content_type = headers.get("Content-Type", "")
    to_sign = "\n".join([method, "", "", length, "", content_type, "", "", "", "", "", ""]) + "\n" + canonical_headers + resource
    signature = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {account}:{signature}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method, headers=headers)
    with urllib.request.urlopen(req) as response:
        return response.read()


def put(endpoint, account, key, container, name, file):
    try:
        request(endpoint, account, key, "PUT", f"/{container}", {"restype": "container"})
    except urllib.error.HTTPError as e:
        if e.code != 409:  # 409: the container exists already
            raise
    with open(file, "rb") as f:
        body = f.read()
    request(endpoint, account, key, "PUT", f"/{container}/{name}", body=body,
            headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"})


def list_blobs(endpoint, account, key, container):
    names, marker = [], None
    while True:
        query = {"restype": "container", "comp": "list"}
        if marker:
            query["marker"] = marker
        try:
            xml = request(endpoint, account, key, "GET", f"/{container}", query)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return names
            raise
        root = ET.fromstring(xml)
        names += [n.text for n in root.iter("Name")]
        marker = root.findtext("NextMarker")
        if not marker:
            return names


def main():
    args = sys.argv[1:]
    if len(args) == 7 and args[0] == "put":
        put(*args[1:])
    elif len(args) == 5 and args[0] == "list":
        for name in list_blobs(*args[1:]):
            print(name)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
