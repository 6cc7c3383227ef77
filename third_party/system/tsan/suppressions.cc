// ThreadSanitizer builds only: the suppressions, each with its reason, compiled in (through
// __tsan_default_suppressions) because Bazel 4 cannot name a workspace file in --test_env.
// TSAN_OPTIONS=suppressions=FILE still adds more.
extern "C" const char* __tsan_default_suppressions() {
  return
R"(# ThreadSanitizer suppressions for --config=tsan. Each one is for a
# system library Debian ships uninstrumented: TSan sees none of its own loads and stores and none
# of its internal synchronization (spin locks, atomics), only the libc calls it makes that TSan
# intercepts (memcpy, memmove, memcmp, new and delete...). Such a report is an access made by
# the library itself, to the library's own memory, ordered by synchronization TSan cannot see;
# the project cannot fix it and TSan cannot judge it. "called_from_lib" ignores only those intercepted calls
# made directly by that library, so a race between the project's code and that memory is still
# reported. Nothing here names this project's code.

# absl::Mutex's deadlock detector (on in Debian's libabsl) keeps its lock graph, GraphCycles,
# behind an absl-internal SpinLock that TSan does not see; its memmoves into the graph from
# different threads were reported (GraphCycles::GetId, GraphCycles::InsertEdge, reached from
# gRPC's and the project's Mutex::Lock).
called_from_lib:libabsl_graphcycles_internal.so

# gRPC's chttp2 transport: its slice buffers (grpc_slice_buffer_swap, then memcpy out of it)
# touched by the thread polling the connection and by a sync-server thread, ordered by gRPC's
# combiner and atomics, which TSan does not see; the project's frames are only its interceptors
# calling Proceed (service/malformed_request.cc, service/rpc_metrics.cc).
called_from_lib:libgrpc.so

# gRPC C++'s call objects: a call's metadata (grpc_metadata_batch) deleted by libgrpc++ on the
# thread that ends the call, after a sync-server thread read it (the project's Authorize reading
# the authorization header); gRPC orders the two through its call's uninstrumented atomics.
called_from_lib:libgrpc++.so

# gRPC C++'s callback API (WatchMemory's reactor): the stream's state (its completion tags'
# std::functions, its interceptor batch) destroyed after OnDone on one executor thread, against
# its last use on another; libgrpc++ orders the two by an uninstrumented atomic count of
# outstanding callbacks. Named by the destructor, which runs no project code, and by CallOnDone,
# which deletes the state after calling the reactor's OnDone (so a race involving
# WatchReactor::OnDone would be hidden too: OnDone therefore takes the reactor's lock before it
# deletes it, ordering it after every other reaction in TSan's eyes as well).
race:ServerCallbackWriterImpl::~ServerCallbackWriterImpl
race:ServerCallbackWriterImpl::CallOnDone
# The same for the call's server context, whose destructor (in libgrpc++) deletes the call's
# interceptors (service/malformed_request.cc, service/rpc_metrics.cc: no state of their own but
# their vtable) after their last Intercept on another thread.
race:grpc::ServerContextBase::~ServerContextBase

# absl::Status: copies share one heap representation (message, payloads) through an atomic
# reference count inside the uninstrumented libabsl_status; its memcmp (comparing statuses) and
# the delete of the last copy, on different threads, were reported.
called_from_lib:libabsl_status.so

# absl::Cord (gRPC keeps a call's status details, such as its time, as Cord payloads of an
# absl::Status): a Cord's buffers are shared between copies through an atomic reference count
# in the uninstrumented libabsl_cord; ParseTime's memcmp reading such a payload on one thread
# was reported against the allocation of the buffer on another, and a Cord's tree
# (CordRepBtree::Destroy) deleted on one thread after gRPC built it on another.
called_from_lib:libabsl_cord.so
called_from_lib:libabsl_cord_internal.so
called_from_lib:libabsl_time.so

# absl's time zones (cctz), reached from gRPC inside a call (the sidecar process of
# //tests/integration:exec_test; the project's only frames were its interceptors calling
# Proceed): LoadTimeZone locking its zone-cache mutex on one thread, reported against the
# mutex's allocation on another. The mutex is a function-local static, whose initialization
# guard the uninstrumented library checks with an atomic load TSan does not see.
called_from_lib:libabsl_time_zone.so

# upb, gRPC's internal protobuf runtime: its memcpy into a buffer of a call's state, ordered by
# gRPC's uninstrumented call combiner.
called_from_lib:libupb.so

# OpenSSL (TLS tests): its locks destroyed (CRYPTO_THREAD_lock_free) on one thread after use on
# another, and an SSL buffer freed after gRPC's handshaker copied from it on another, ordered by
# OpenSSL's own atomic reference counts and gRPC's handshake, uninstrumented.
called_from_lib:libcrypto.so
called_from_lib:libssl.so

# cpp-httplib's server (the HTTP endpoints and tests' fakehub): its worker threads' memcpy and
# memcmp on one request buffer were reported, the only frames httplib's own and std::thread's.
called_from_lib:libcpp-httplib.so
)"
      ;
}
