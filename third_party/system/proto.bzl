"""Protocol Buffers and gRPC C++ code generation with Debian's protoc and grpc_cpp_plugin."""

def cc_grpc_proto_library(name, src, strip_prefix, grpc = True, deps = [], visibility = None):
    """Generates C++ messages (and gRPC stubs) for one .proto file.

    Args:
      name: the cc_library to create.
      src: the .proto file, in this package.
      strip_prefix: the directory (relative to the package) that is the import root, "" for the
        package itself; generated headers are included relative to it.
      grpc: whether to generate gRPC service stubs too.
      deps: cc_grpc_proto_library targets of imported .proto files.
      visibility: the library's visibility.
    """
    rel = src[len(strip_prefix) + 1:] if strip_prefix else src
    base = rel[:-len(".proto")]
    prefix = strip_prefix + "/" if strip_prefix else ""
    outs = [prefix + base + ".pb.h", prefix + base + ".pb.cc"]
    if grpc:
        outs += [prefix + base + ".grpc.pb.h", prefix + base + ".grpc.pb.cc"]
    pkg = native.package_name()
    root = pkg + ("/" + strip_prefix if strip_prefix else "")
    cmd = "protoc -I{root} -I/usr/include --cpp_out=$(GENDIR)/{root}".format(root = root)
    if grpc:
        cmd += " --grpc_out=$(GENDIR)/{root} --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin)".format(root = root)
    cmd += " $(location {})".format(src)
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = cmd,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = [strip_prefix] if strip_prefix else ["."],
        deps = deps + ["//third_party/system:grpc", "//third_party/system:protobuf"],
        visibility = visibility,
    )
