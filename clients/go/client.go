// Client: every RPC of tasksentinel.v1.SentinelService as a Go method.
//
// Every call has a deadline (Options.CallTimeout, plus the wait for AcquireLock and NextTask;
// the caller's context can only shorten it), sends the bearer token when one is given, and
// returns an *Error on failure. Lists are read to their last page. CreateTask always sends a
// request_id (a new random one unless given) and retries UNAVAILABLE, DEADLINE_EXCEEDED and
// RATE_LIMITED, so a lost answer never creates a second task.
//
// The connection reconnects by itself after a sidecar restart; calls made while the sidecar is
// down fail with ErrUnavailable (the Worker retries them). Safe for concurrent use.

package tasksentinel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "tasksentinel/clients/go/sentinelpb"
)

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// APIToken is sent as `authorization: Bearer <token>` (the sidecar's SENTINEL_API_TOKEN).
	APIToken string
	// CallTimeout bounds each call, on top of its wait; 0 means 10 s.
	CallTimeout time.Duration
	// CreateRetries is how often CreateTask retries a transient failure; 0 means 5, <0 never.
	CreateRetries int
	// DialOptions are added to Dial's (which dials without transport security: the sidecar
	// listens on loopback or a unix socket).
	DialOptions []grpc.DialOption
}

// Client is a client of one sidecar.
type Client struct {
	conn    *grpc.ClientConn
	own     bool // Close closes conn
	stub    pb.SentinelServiceClient
	token   string
	timeout time.Duration
	retries int
}

// Dial returns a client of the sidecar at target ("127.0.0.1:50051", "unix:///run/s.sock").
// It does not wait for the sidecar: calls fail with ErrUnavailable until it answers.
func Dial(target string, opts Options) (*Client, error) {
	dial := append([]grpc.DialOption{grpc.WithInsecure()}, opts.DialOptions...)
	conn, err := grpc.Dial(target, dial...)
	if err != nil {
		return nil, err
	}
	c := NewClient(conn, opts)
	c.own = true
	return c, nil
}

// NewClient returns a client on an existing connection, which the caller keeps and closes.
func NewClient(conn *grpc.ClientConn, opts Options) *Client {
	c := &Client{conn: conn, stub: pb.NewSentinelServiceClient(conn), token: opts.APIToken,
		timeout: opts.CallTimeout, retries: opts.CreateRetries}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.retries == 0 {
		c.retries = 5
	} else if c.retries < 0 {
		c.retries = 0
	}
	return c
}

// Close closes the connection Dial opened (NewClient's is the caller's to close).
func (c *Client) Close() error {
	if c.own {
		return c.conn.Close()
	}
	return nil
}

// Stub returns the generated stub, for anything not wrapped here (WatchMemory).
func (c *Client) Stub() pb.SentinelServiceClient { return c.stub }

// call returns ctx with the call's deadline (the call timeout plus wait) and the bearer token.
func (c *Client) call(ctx context.Context, wait time.Duration) (context.Context,
	context.CancelFunc) {
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return context.WithTimeout(ctx, c.timeout+wait)
}

func duration(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// --- Locks.

// LockOptions are AcquireLock's and WithLock's optional settings.
type LockOptions struct {
	// TTL is the lock's own time to live; 0 means the sidecar's LOCK_TTL_SECONDS.
	TTL time.Duration
	// Wait is how long to wait for a held lock (fair queue across the fleet); 0: do not wait.
	Wait time.Duration
	// Metadata is stored with the lock (hostname, pid, ...).
	Metadata map[string]string
}

// HeldLock is a lock this worker holds: its name, fencing token and the lock as the sidecar
// returned it.
type HeldLock struct {
	Name  string
	Token uint64
	Lock  *pb.Lock
	c     *Client
}

// Release releases exactly this lock instance (by its token) and returns the sidecar's answer:
// RELEASED, NOT_HELD (already gone) or HELD_BY_OTHER (a newer instance, left alone).
func (h *HeldLock) Release(ctx context.Context) (pb.ReleaseLockResponse_Status, error) {
	return h.c.ReleaseLock(ctx, h.Name, h.Token)
}

// AcquireLock acquires lock `name` within opts.Wait. Returns the held lock, or (nil, nil) when
// another holder still has it (not acquiring is not an error).
func (c *Client) AcquireLock(ctx context.Context, name string, opts LockOptions) (*HeldLock,
	error) {
	ctx, cancel := c.call(ctx, opts.Wait)
	defer cancel()
	resp, err := c.stub.AcquireLock(ctx, &pb.AcquireLockRequest{Name: name,
		Ttl: duration(opts.TTL), WaitTimeout: duration(opts.Wait), Metadata: opts.Metadata})
	if err != nil {
		return nil, fromRPC(err)
	}
	if !resp.GetAcquired() {
		return nil, nil
	}
	return &HeldLock{Name: name, Token: resp.GetLock().GetFencingToken(), Lock: resp.GetLock(),
		c: c}, nil
}

// WithLock runs fn while holding lock `name` and releases the lock (by its token) when fn
// returns, whatever fn returns. Fails with an error matching ErrLockHeld when another holder
// still has the lock after opts.Wait. Returns fn's error; a failed release is not reported
// (the lock lapses with its ttl).
func (c *Client) WithLock(ctx context.Context, name string, opts LockOptions,
	fn func(held *HeldLock) error) error {
	held, err := c.AcquireLock(ctx, name, opts)
	if err != nil {
		return err
	}
	if held == nil {
		return &Error{Code: codes.FailedPrecondition, Reason: ErrLockHeld.Reason,
			Message: "lock " + name + " is held", Metadata: map[string]string{"name": name}}
	}
	defer func() {
		// Released even when ctx is done: a fresh deadline of its own.
		rctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		_, _ = held.Release(rctx)
	}()
	return fn(held)
}

// RenewLock extends a held lock's ttl (0: keep it) and returns the lock; an error matching
// ErrFencingTokenStale when token is not the live lock's.
func (c *Client) RenewLock(ctx context.Context, name string, token uint64,
	ttl time.Duration) (*pb.Lock, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.RenewLock(ctx, &pb.RenewLockRequest{Name: name, FencingToken: token,
		Ttl: duration(ttl)})
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp.GetLock(), nil
}

// ReleaseLock releases exactly the lock instance `token` names (see HeldLock.Release).
func (c *Client) ReleaseLock(ctx context.Context, name string,
	token uint64) (pb.ReleaseLockResponse_Status, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.ReleaseLock(ctx, &pb.ReleaseLockRequest{Name: name, FencingToken: token})
	if err != nil {
		return pb.ReleaseLockResponse_STATUS_UNSPECIFIED, fromRPC(err)
	}
	return resp.GetStatus(), nil
}

// Heartbeat renews this worker's lease; the answer names the locks it lost since its previous
// heartbeat and the interval at which to heartbeat.
func (c *Client) Heartbeat(ctx context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse,
	error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.Heartbeat(ctx, req)
	return resp, fromRPC(err)
}

// --- Memory.

// GetMemory reads one entry; an error matching ErrNotFound when there is none.
func (c *Client) GetMemory(ctx context.Context, namespace, key string) (*pb.MemoryEntry, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.GetMemory(ctx, &pb.GetMemoryRequest{Namespace: namespace, Key: key})
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp.GetEntry(), nil
}

// SetOptions are SetMemory's optional conditions.
type SetOptions struct {
	// ExpectedVersion, when set, makes the write a compare-and-set (0: the key must not exist);
	// ErrVersionMismatch otherwise.
	ExpectedVersion *uint64
	// TTL: 0 means the entry does not expire; else 1 s .. 30 days.
	TTL time.Duration
	// Fencing, when set, makes the write happen only while that lock instance is live.
	Fencing *HeldLock
}

// Version returns a pointer to v, for SetOptions.ExpectedVersion and DeleteMemory.
func Version(v uint64) *uint64 { return &v }

// SetMemory writes one entry and returns it with its new version.
func (c *Client) SetMemory(ctx context.Context, namespace, key string, value []byte,
	opts SetOptions) (*pb.MemoryEntry, error) {
	req := &pb.SetMemoryRequest{Namespace: namespace, Key: key, Value: value,
		ExpectedVersion: opts.ExpectedVersion, Ttl: duration(opts.TTL)}
	if opts.Fencing != nil {
		req.Fencing = &pb.Fencing{Name: opts.Fencing.Name, Token: opts.Fencing.Token}
	}
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.SetMemory(ctx, req)
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp.GetEntry(), nil
}

// DeleteMemory deletes one entry (compare-and-delete with expectedVersion set); false when the
// key did not exist.
func (c *Client) DeleteMemory(ctx context.Context, namespace, key string,
	expectedVersion *uint64) (bool, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.DeleteMemory(ctx, &pb.DeleteMemoryRequest{Namespace: namespace, Key: key,
		ExpectedVersion: expectedVersion})
	if err != nil {
		return false, fromRPC(err)
	}
	return resp.GetDeleted(), nil
}

// ListMemory returns every live entry of namespace whose key starts with prefix, in key order.
func (c *Client) ListMemory(ctx context.Context, namespace, prefix string) ([]*pb.MemoryEntry,
	error) {
	var out []*pb.MemoryEntry
	req := &pb.ListMemoryRequest{Namespace: namespace, Prefix: prefix}
	for {
		cctx, cancel := c.call(ctx, 0)
		resp, err := c.stub.ListMemory(cctx, req)
		cancel()
		if err != nil {
			return nil, fromRPC(err)
		}
		out = append(out, resp.GetEntries()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// --- Tasks.

// NewTask is CreateTask's request.
type NewTask struct {
	Title       string
	Body        string
	Type        string
	Priority    int32
	MaxAttempts uint32
	// RequestID is the idempotency key; empty: a new random one for this call (and its retries).
	RequestID string
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// transient reports whether a failed call is worth retrying: the sidecar is restarting (a
// stopping sidecar cancels the calls waiting in it), busy or rate limited.
func transient(err error) bool {
	switch codeOf(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted,
		codes.Canceled:
		return true
	}
	return false
}

// sleep waits d or until ctx is done (then returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// CreateTask enqueues a task and returns it. Safe to retry, and retries by itself (see the file
// comment): the sidecar returns the first task for a repeated request_id.
func (c *Client) CreateTask(ctx context.Context, t NewTask) (*pb.Task, error) {
	req := &pb.CreateTaskRequest{Title: t.Title, Body: t.Body, Type: t.Type, Priority: t.Priority,
		MaxAttempts: t.MaxAttempts, RequestId: t.RequestID}
	if req.RequestId == "" {
		req.RequestId = newRequestID()
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cctx, cancel := c.call(ctx, 0)
		resp, err := c.stub.CreateTask(cctx, req)
		cancel()
		if err == nil {
			return resp.GetTask(), nil
		}
		err = fromRPC(err)
		code := codeOf(err)
		retry := code == codes.Unavailable || code == codes.DeadlineExceeded ||
			ReasonOf(err) == ErrRateLimited.Reason
		if !retry || attempt >= c.retries || ctx.Err() != nil {
			return nil, err
		}
		wait := retryDelayOf(err)
		if wait == 0 {
			wait = backoff
		}
		if !sleep(ctx, wait) {
			return nil, err
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
}

// NextTask returns the next task handed to this worker, already locked for it, with its lock;
// (nil, nil, nil) when none came within wait. Only tasks of taskTypes when given.
func (c *Client) NextTask(ctx context.Context, wait time.Duration, taskTypes []string) (*pb.Task,
	*pb.Lock, error) {
	ctx, cancel := c.call(ctx, wait)
	defer cancel()
	resp, err := c.stub.NextTask(ctx, &pb.NextTaskRequest{TaskTypes: taskTypes,
		WaitTimeout: duration(wait)})
	if err != nil {
		return nil, nil, fromRPC(err)
	}
	if resp.GetTask() == nil {
		return nil, nil, nil
	}
	return resp.GetTask(), resp.GetLock(), nil
}

// CompleteTask marks the task done with result and releases its lock; an error matching
// ErrFencingTokenStale or ErrTaskNotInProgress when token is not its live hand-out.
func (c *Client) CompleteTask(ctx context.Context, taskID string, token uint64,
	result string) (*pb.Task, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.CompleteTask(ctx, &pb.CompleteTaskRequest{TaskId: taskID,
		FencingToken: token, Result: result})
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp.GetTask(), nil
}

// FailTask reports a failed attempt (re-queued after a backoff when retryable and attempts are
// left, else dead-lettered) and releases the task's lock.
func (c *Client) FailTask(ctx context.Context, taskID string, token uint64, message string,
	retryable bool) (*pb.Task, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.FailTask(ctx, &pb.FailTaskRequest{TaskId: taskID, FencingToken: token,
		Error: message, Retryable: retryable})
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp.GetTask(), nil
}

// GetTask reads one task; an error matching ErrNotFound when there is none.
func (c *Client) GetTask(ctx context.Context, taskID string) (*pb.Task, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.GetTask(ctx, &pb.GetTaskRequest{TaskId: taskID})
	if err != nil {
		return nil, fromRPC(err)
	}
	return resp.GetTask(), nil
}

// --- Cluster.

// ClusterHealth returns the cluster as this sidecar sees it.
func (c *Client) ClusterHealth(ctx context.Context) (*pb.GetClusterHealthResponse, error) {
	ctx, cancel := c.call(ctx, 0)
	defer cancel()
	resp, err := c.stub.GetClusterHealth(ctx, &pb.GetClusterHealthRequest{})
	return resp, fromRPC(err)
}

// ListLocks returns every live lock, by name (other workers' with fencing token 0).
func (c *Client) ListLocks(ctx context.Context) ([]*pb.Lock, error) {
	var out []*pb.Lock
	req := &pb.ListLocksRequest{}
	for {
		cctx, cancel := c.call(ctx, 0)
		resp, err := c.stub.ListLocks(cctx, req)
		cancel()
		if err != nil {
			return nil, fromRPC(err)
		}
		out = append(out, resp.GetLocks()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// ListWorkers returns the registered workers, by id (also those gone, with includeGone).
func (c *Client) ListWorkers(ctx context.Context, includeGone bool) ([]*pb.Worker, error) {
	var out []*pb.Worker
	req := &pb.ListWorkersRequest{IncludeGone: includeGone}
	for {
		cctx, cancel := c.call(ctx, 0)
		resp, err := c.stub.ListWorkers(cctx, req)
		cancel()
		if err != nil {
			return nil, fromRPC(err)
		}
		out = append(out, resp.GetWorkers()...)
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}
