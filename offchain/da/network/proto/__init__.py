"""EigenDA's protobuf messages and gRPC services as the DA network speaks them: the ``.proto`` files here are
this project's, with EigenDA's package, service, message and field names and numbers (so EigenDA's clients
and these processes read each other's bytes); ``*_pb2.py`` and ``*_pb2_grpc.py`` are generated from them by
grpcio-tools (``python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. offchain/da/network/proto/
{disperser_v2,relay,node_v2}.proto``, and ``--python_out`` alone for ``common.proto``, ``common_v2.proto`` and
``signing_rate.proto``);
a test regenerates them and compares. docs/da-network.md, "gRPC"."""
