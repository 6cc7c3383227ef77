// The Go client against real sidecar processes (SENTINEL_BIN): typed errors, WithLock,
// idempotent CreateTask (also after a lost answer), and Worker.Run (completion, failure,
// heartbeats, a lost lock, a sidecar restart). Run by //tests/clients:go_client_test.

package tasksentinel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ts "tasksentinel/clients/go"
	pb "tasksentinel/clients/go/sentinelpb"
)

// sidecar is a sidecar process for one worker on a shared data directory.
type sidecar struct {
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startSidecar starts worker's sidecar on dir at addr ("" for a free port) and waits until it
// answers.
func startSidecar(t *testing.T, worker, dir, addr string) *sidecar {
	t.Helper()
	bin := os.Getenv("SENTINEL_BIN")
	if bin == "" {
		t.Fatal("SENTINEL_BIN is not set (the sidecar binary)")
	}
	if addr == "" {
		addr = freeAddr(t)
	}
	log, err := os.OpenFile(filepath.Join(dir, worker+".log"),
		os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WORKER_ID=" + worker,
		"SENTINEL_GRPC_ADDR=" + addr, "SENTINEL_DATA_DIR=" + dir, "SENTINEL_HTTP_ADDR=",
		"SENTINEL_POLL_INTERVAL_MS=10", "HEARTBEAT_INTERVAL_MS=200",
		"STALE_WORKER_THRESHOLD_MS=1500", "LOCK_DELAY_MS=0", "TASK_RETRY_BACKOFF_MS=50"}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sidecar{addr: addr, cmd: cmd, log: log}
	c, err := ts.Dial(addr, ts.Options{CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := c.ClusterHealth(context.Background()); err == nil {
			return s
		} else if time.Now().After(deadline) {
			s.stop()
			t.Fatalf("sidecar %s did not answer: %v", worker, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sidecar) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.log.Close()
}

// fixture: sidecars on one data directory, stopped at the end of the test.
type fixture struct {
	t        *testing.T
	dir      string
	mu       sync.Mutex
	sidecars []*sidecar
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range f.sidecars {
			s.stop()
		}
	})
	return f
}

// client starts worker's sidecar and returns a client of it.
func (f *fixture) client(worker string, opts ...grpc.DialOption) (*ts.Client, *sidecar) {
	s := startSidecar(f.t, worker, f.dir, "")
	f.mu.Lock()
	f.sidecars = append(f.sidecars, s)
	f.mu.Unlock()
	c, err := ts.Dial(s.addr, ts.Options{CallTimeout: 5 * time.Second, DialOptions: opts})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c, s
}

// restart stops sidecar s and starts worker's sidecar again on the same address.
func (f *fixture) restart(s *sidecar, worker string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.stop()
	for i, old := range f.sidecars {
		if old == s {
			f.sidecars[i] = startSidecar(f.t, worker, f.dir, s.addr)
		}
	}
}

// keepAlive heartbeats for c's worker every 200 ms until the test ends, as a worker process
// does: locks are bound to the worker's lease (1.5 s here), which lapses without heartbeats.
func keepAlive(t *testing.T, c *ts.Client) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			_, _ = c.Heartbeat(context.Background(), &pb.HeartbeatRequest{})
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-stopped
	})
}

func TestErrorsAreTypedByReason(t *testing.T) {
	ctx := context.Background()
	c, _ := newFixture(t).client("worker-a")
	_, err := c.GetTask(ctx, "no-such-task")
	if !errors.Is(err, ts.ErrNotFound) || ts.ReasonOf(err) != "NOT_FOUND" {
		t.Fatalf("GetTask of a missing task: %v", err)
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("status.Code = %v, want NotFound", status.Code(err))
	}
	if _, err := c.SetMemory(ctx, "global", "k", []byte("v"),
		ts.SetOptions{ExpectedVersion: ts.Version(0)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SetMemory(ctx, "global", "k", []byte("v"),
		ts.SetOptions{ExpectedVersion: ts.Version(0)})
	if !errors.Is(err, ts.ErrVersionMismatch) {
		t.Errorf("second create-only write: %v, want VERSION_MISMATCH", err)
	}
	held, err := c.AcquireLock(ctx, "res", ts.LockOptions{})
	if err != nil || held == nil {
		t.Fatalf("AcquireLock: %v, %v", held, err)
	}
	if st, err := held.Release(ctx); err != nil || st != pb.ReleaseLockResponse_STATUS_RELEASED {
		t.Fatalf("Release: %v, %v", st, err)
	}
	_, err = c.RenewLock(ctx, "res", held.Token, 0)
	var e *ts.Error
	if !errors.Is(err, ts.ErrFencingTokenStale) || !errors.As(err, &e) ||
		e.Metadata["name"] != "res" || e.Code != codes.FailedPrecondition {
		t.Errorf("RenewLock of a released lock: %#v", err)
	}
	if _, err := c.ListMemory(ctx, "no such namespace!", ""); !errors.Is(err,
		ts.ErrInvalidArgument) {
		t.Errorf("ListMemory of a bad namespace: %v", err)
	}
}

func TestWithLockReleasesAndReportsAHeldLock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, _ := f.client("worker-a")
	b, _ := f.client("worker-b")
	keepAlive(t, a)
	keepAlive(t, b)
	var token uint64
	err := a.WithLock(ctx, "deploy", ts.LockOptions{}, func(held *ts.HeldLock) error {
		token = held.Token
		if held.Token == 0 {
			t.Error("no fencing token")
		}
		inner := b.WithLock(ctx, "deploy", ts.LockOptions{Wait: 200 * time.Millisecond},
			func(*ts.HeldLock) error { return errors.New("both hold the lock") })
		if !errors.Is(inner, ts.ErrLockHeld) {
			t.Errorf("b's WithLock while a holds it: %v, want LOCK_HELD", inner)
		}
		_, err := a.SetMemory(ctx, "global", "deployed-by", []byte("a"),
			ts.SetOptions{Fencing: held})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if locks, err := a.ListLocks(ctx); err != nil || len(locks) != 0 {
		t.Fatalf("locks after WithLock: %v, %v", locks, err)
	}
	// Free again; fn's error is WithLock's, and the lock is released all the same.
	boom := errors.New("boom")
	err = b.WithLock(ctx, "deploy", ts.LockOptions{}, func(held *ts.HeldLock) error {
		if held.Token <= token {
			t.Errorf("token %d not above %d", held.Token, token)
		}
		return boom
	})
	if err != boom {
		t.Errorf("WithLock returned %v, want fn's error", err)
	}
	if locks, err := b.ListLocks(ctx); err != nil || len(locks) != 0 {
		t.Fatalf("locks after a failed fn: %v, %v", locks, err)
	}
}

func TestCreateTaskWithARequestIDCreatesOnce(t *testing.T) {
	ctx := context.Background()
	c, _ := newFixture(t).client("worker-a")
	first, err := c.CreateTask(ctx, ts.NewTask{Title: "build", RequestID: "go-req-1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateTask(ctx, ts.NewTask{Title: "build", RequestID: "go-req-1"})
	if err != nil || again.GetId() != first.GetId() {
		t.Fatalf("retry: %v, %v; want task %s", again, err, first.GetId())
	}
	other, err := c.CreateTask(ctx, ts.NewTask{Title: "build"}) // a fresh id each call
	if err != nil || other.GetId() == first.GetId() {
		t.Fatalf("without a request id: %v, %v", other, err)
	}
	health, err := c.ClusterHealth(ctx)
	if err != nil || health.GetTasksQueued() != 2 {
		t.Fatalf("queued: %v, %v; want 2", health.GetTasksQueued(), err)
	}
}

func TestCreateTaskRetriedAfterALostAnswerCreatesOneTask(t *testing.T) {
	ctx := context.Background()
	// The first CreateTask's answer is lost (the sidecar created the task; the client sees
	// UNAVAILABLE, as after a connection reset): the client retries with the same request_id.
	var mu sync.Mutex
	lost, calls := 0, 0
	loseFirst := func(ctx context.Context, method string, req, reply interface{},
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if strings.HasSuffix(method, "/CreateTask") {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if err == nil && lost == 0 {
				lost++
				return status.Error(codes.Unavailable, "answer lost")
			}
		}
		return err
	}
	c, _ := newFixture(t).client("worker-a", grpc.WithUnaryInterceptor(loseFirst))
	task, err := c.CreateTask(ctx, ts.NewTask{Title: "deploy"})
	if err != nil || task.GetTitle() != "deploy" {
		t.Fatalf("CreateTask: %v, %v", task, err)
	}
	if calls != 2 {
		t.Errorf("%d CreateTask calls, want 2 (one retry)", calls)
	}
	health, err := c.ClusterHealth(ctx)
	if err != nil || health.GetTasksQueued() != 1 {
		t.Fatalf("queued: %v, %v; want 1", health.GetTasksQueued(), err)
	}
}

func TestWorkerRunsCompletesAndFailsTasks(t *testing.T) {
	ctx := context.Background()
	c, _ := newFixture(t).client("worker-a")
	create := func(title string, attempts uint32) *pb.Task {
		task, err := c.CreateTask(ctx, ts.NewTask{Title: title, MaxAttempts: attempts})
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	ok, permanent, flaky := create("ok", 0), create("permanent", 5), create("flaky", 2)
	handler := func(ctx context.Context, job *ts.Job) (string, error) {
		switch job.Task.GetTitle() {
		case "permanent":
			return "", ts.Permanent(errors.New("cannot do it"))
		case "flaky":
			return "", errors.New("try again")
		}
		return "done " + job.Task.GetId(), nil
	}
	w := ts.NewWorker(c, ts.WorkerOptions{UntilIdle: true, PollWait: time.Second})
	if err := w.Run(ctx, handler); err != nil {
		t.Fatal(err)
	}
	get := func(id string) *pb.Task {
		task, err := c.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	if got := get(ok.GetId()); got.GetState() != pb.TaskState_TASK_STATE_DONE ||
		got.GetResult() != "done "+ok.GetId() {
		t.Errorf("ok task: %v", got)
	}
	if got := get(permanent.GetId()); got.GetState() != pb.TaskState_TASK_STATE_DEAD_LETTER ||
		got.GetAttempts() != 1 || got.GetLastError() != "cannot do it" {
		t.Errorf("permanent task: %v", got)
	}
	// Retried after the backoff (the queue may be momentarily empty: run again until idle).
	for deadline := time.Now().Add(10 * time.Second); get(flaky.GetId()).GetState() !=
		pb.TaskState_TASK_STATE_DEAD_LETTER; {
		if time.Now().After(deadline) {
			t.Fatalf("flaky task not dead-lettered: %v", get(flaky.GetId()))
		}
		err := ts.NewWorker(c, ts.WorkerOptions{UntilIdle: true,
			PollWait: 500 * time.Millisecond}).Run(ctx, handler)
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := get(flaky.GetId()); got.GetAttempts() != 2 || got.GetLastError() != "try again" {
		t.Errorf("flaky task: %v", got)
	}
}

func TestWorkerHeartbeatsWhileALongHandlerRuns(t *testing.T) {
	ctx := context.Background()
	c, _ := newFixture(t).client("worker-a")
	task, err := c.CreateTask(ctx, ts.NewTask{Title: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	var cancelled []bool
	err = ts.NewWorker(c, ts.WorkerOptions{MaxTasks: 1}).Run(ctx,
		func(ctx context.Context, job *ts.Job) (string, error) {
			// Twice the lease: only the worker's heartbeats keep the lock.
			select {
			case <-ctx.Done():
				cancelled = append(cancelled, true)
			case <-time.After(3 * time.Second):
				cancelled = append(cancelled, false)
			}
			return "finished", nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cancelled) != "[false]" {
		t.Errorf("cancelled: %v", cancelled)
	}
	if got, err := c.GetTask(ctx, task.GetId()); err != nil || got.GetResult() != "finished" {
		t.Errorf("task: %v, %v", got, err)
	}
}

func TestALostLockCancelsTheJob(t *testing.T) {
	ctx := context.Background()
	c, s := newFixture(t).client("worker-a")
	task, err := c.CreateTask(ctx, ts.NewTask{Title: "fragile"})
	if err != nil {
		t.Fatal(err)
	}
	var lost []bool
	w := ts.NewWorker(c, ts.WorkerOptions{MaxTasks: 1})
	err = w.Run(ctx, func(ctx context.Context, job *ts.Job) (string, error) {
		// The sidecar pauses past its lease (a stopped VM, say): the lease lapses.
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(2500 * time.Millisecond)
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		select {
		case <-ctx.Done():
			lost = append(lost, job.LockLost())
		case <-time.After(10 * time.Second):
			lost = append(lost, false)
		}
		return "too late", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lost) != "[true]" || w.Finished() != 0 {
		t.Errorf("lost: %v, finished %d", lost, w.Finished())
	}
	if got, err := c.GetTask(ctx, task.GetId()); err != nil || got.GetResult() == "too late" {
		t.Errorf("task: %v, %v", got, err)
	}
}

func TestWorkerCarriesOnAcrossASidecarRestart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, s := f.client("worker-a")
	if _, err := c.CreateTask(ctx, ts.NewTask{Title: "before"}); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	w := ts.NewWorker(c, ts.WorkerOptions{MaxTasks: 2, PollWait: 500 * time.Millisecond})
	err := w.Run(ctx, func(ctx context.Context, job *ts.Job) (string, error) {
		if job.Task.GetTitle() == "before" {
			go func() {
				time.Sleep(300 * time.Millisecond)
				f.restart(s, "worker-a")
				_, err := c.CreateTask(context.Background(), ts.NewTask{Title: "after"})
				restarted <- err
			}()
		}
		return "ok", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if w.Finished() != 2 {
		t.Errorf("finished %d tasks, want 2", w.Finished())
	}
}

func TestRunStopsWhenItsContextIsCancelled(t *testing.T) {
	c, _ := newFixture(t).client("worker-a")
	ctx, cancel := context.WithCancel(context.Background())
	task, err := c.CreateTask(ctx, ts.NewTask{Title: "interrupted"})
	if err != nil {
		t.Fatal(err)
	}
	err = ts.NewWorker(c, ts.WorkerOptions{}).Run(ctx,
		func(ctx context.Context, job *ts.Job) (string, error) {
			cancel()
			<-ctx.Done()
			return "", ctx.Err()
		})
	if err != nil {
		t.Fatal(err)
	}
	// Handed back, not failed: its lock released and the task handed out again (the sidecar
	// counts the interrupted attempt as lost, not as the handler's failure).
	if locks, err := c.ListLocks(context.Background()); err != nil || len(locks) != 0 {
		t.Errorf("locks after an interrupted run: %v, %v", locks, err)
	}
	again, _, err := c.NextTask(context.Background(), 2*time.Second, nil)
	if err != nil || again.GetId() != task.GetId() ||
		strings.Contains(again.GetLastError(), "canceled") {
		t.Errorf("the task after an interrupted run: %v, %v", again, err)
	}
}
