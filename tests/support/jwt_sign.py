"""Signs JSON Web Tokens for the jwt plugin's tests (HS*, RS*, PS*, ES*, EdDSA), with Debian's
python3-cryptography: the tokens a real client library makes, or deliberately broken ones."""
import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HASHES = {"256": (hashlib.sha256, hashes.SHA256), "384": (hashlib.sha384, hashes.SHA384),
          "512": (hashlib.sha512, hashes.SHA512)}
CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key(alg):
    """A private key for an RS*, PS*, ES* or EdDSA (Ed25519) algorithm."""
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(CURVES[alg]())


def public_pem(private_key) -> str:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(claims, alg="HS256", secret="", key=None, header=None):
    """A compact JWT: `secret` for HS*, `key` (from make_key) for RS*/PS*/ES*/EdDSA, nothing for "none".
    `header` replaces the default one (its alg may then differ from the signing `alg`)."""
    head = header if header is not None else {"typ": "JWT", "alg": alg}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    data = signing_input.encode()
    bits = alg[2:]
    if alg.startswith("HS"):
        sig = hmac.new(secret.encode(), data, HASHES[bits][0]).digest()
    elif alg.startswith("RS"):
        sig = key.sign(data, padding.PKCS1v15(), HASHES[bits][1]())
    elif alg.startswith("PS"):  # RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash
        algorithm = HASHES[bits][1]()
        sig = key.sign(data, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)
    elif alg == "EdDSA":
        sig = key.sign(data)
    elif alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(HASHES[bits][1]())))
        size = (key.curve.key_size + 7) // 8
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        sig = b""
    return f"{signing_input}.{b64url(sig)}"
