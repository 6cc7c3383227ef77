// Package tasksentinel is the Go client of the Task Sentinel coordination sidecar: a thin layer
// over the gRPC stubs generated from proto/tasksentinel/v1/sentinel.proto (package sentinelpb).
//
//	client, err := tasksentinel.Dial("127.0.0.1:50051", tasksentinel.Options{})
//	err = client.WithLock(ctx, "deploy", tasksentinel.LockOptions{Wait: 30 * time.Second},
//		func(held *tasksentinel.HeldLock) error { return deploy(held.Token) })
//	err = tasksentinel.NewWorker(client, tasksentinel.WorkerOptions{}).Run(ctx,
//		func(ctx context.Context, job *tasksentinel.Job) (string, error) { return build(ctx, job.Task) })
//
// Errors are *Error values carrying the sidecar's google.rpc.ErrorInfo reason: test them with
// errors.Is(err, ErrLockHeld) and the other Err* values, or ReasonOf(err).
//
// It builds with Debian's Go packages, offline, in GOPATH mode (see README.md); the stubs are
// generated, never committed:
//
//go:generate protoc -I../../proto --go_out=. --go-grpc_out=. --go_opt=module=tasksentinel/clients/go --go-grpc_opt=module=tasksentinel/clients/go --go_opt=Mtasksentinel/v1/sentinel.proto=tasksentinel/clients/go/sentinelpb --go-grpc_opt=Mtasksentinel/v1/sentinel.proto=tasksentinel/clients/go/sentinelpb tasksentinel/v1/sentinel.proto
package tasksentinel
