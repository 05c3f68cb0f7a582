"""A real gRPC server (Debian's python3-grpcio) for the gateway's tests. No protoc: the methods are
generic handlers whose messages are raw bytes (identity serializers), so any byte string is a
message. Service `test.Echo`:

  Unary       returns the request; its initial metadata echoes x-native-upstream
  Split       server streaming: request b"<n>:<size>" -> n messages of `size` bytes
  Join        client streaming: the messages joined
  Chat        bidirectional: each message echoed as it comes (b"end" ends the call)
  Sleep       sleeps float(request) seconds, then answers b"late"
  Fail        aborts with NOT_FOUND "no such thing" (trailers-only)
  FailLater   one message, then RESOURCE_EXHAUSTED "quota gone" (trailers after data)
"""
import time
from concurrent import futures

import grpc

SERVICE = "test.Echo"


def _identity(data):
    return data


def _unary(request, context):
    seen = dict(context.invocation_metadata())
    context.send_initial_metadata((("x-seen-native", seen.get("x-native-upstream", "")),))
    return request


def _split(request, context):
    count, size = (int(x) for x in request.decode().split(":"))
    for i in range(count):
        yield bytes([65 + i % 26]) * size


def _join(request_iterator, context):
    return b"".join(request_iterator)


def _chat(request_iterator, context):
    for message in request_iterator:
        if message == b"end":
            return
        yield b"echo:" + message


def _sleep(request, context):
    time.sleep(float(request.decode()))
    return b"late"


def _fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def _fail_later(request, context):
    yield b"first"
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota gone")


def _handlers():
    kw = dict(request_deserializer=_identity, response_serializer=_identity)
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary, **kw),
        "Split": grpc.unary_stream_rpc_method_handler(_split, **kw),
        "Join": grpc.stream_unary_rpc_method_handler(_join, **kw),
        "Chat": grpc.stream_stream_rpc_method_handler(_chat, **kw),
        "Sleep": grpc.unary_unary_rpc_method_handler(_sleep, **kw),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail, **kw),
        "FailLater": grpc.unary_stream_rpc_method_handler(_fail_later, **kw),
    })


MAX_MESSAGE = 32 * 1024 * 1024
OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]


def start(port=0, cert=None, key=None):
    """Starts the server on 127.0.0.1 (TLS when cert/key are given). Returns (server, port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=OPTIONS)
    server.add_generic_rpc_handlers((_handlers(),))
    if cert:
        credentials = grpc.ssl_server_credentials([(open(key, "rb").read(), open(cert, "rb").read())])
        port = server.add_secure_port(f"127.0.0.1:{port}", credentials)
    else:
        port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


def channel(target, **kw):
    return grpc.insecure_channel(target, options=OPTIONS, **kw)


def method(channel, name, kind="unary_unary"):
    """A callable for `/test.Echo/<name>` sending and receiving raw bytes."""
    make = getattr(channel, kind)
    return make(f"/{SERVICE}/{name}", request_serializer=_identity, response_deserializer=_identity)
