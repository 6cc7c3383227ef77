// Worker: the worker loop, done once.
//
// NewWorker(client, opts).Run(ctx, handler) heartbeats at the interval the sidecar announces,
// pulls tasks with NextTask (deadline: the wait plus the call timeout), calls handler for each
// and completes the task with the handler's result, or fails it with the handler's error
// (retryable, unless the error is a PermanentError: then the task is dead-lettered). When a
// heartbeat reports the task's lock lost, the handler's context is cancelled and Job.LockLost
// is true: the handler should stop, and the task is not finished by this worker (the fleet
// hands it out again). While the sidecar is unreachable (restarting) calls are retried with
// backoff.
//
// Threads: Run starts one goroutine per WorkerOptions.Concurrency and one for heartbeats; the
// handler runs on the task goroutines. Stop and Finished are safe from any goroutine.

package tasksentinel

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	pb "tasksentinel/clients/go/sentinelpb"
)

// WorkerOptions configure a Worker. The zero value works one task at a time, forever.
type WorkerOptions struct {
	// Concurrency is the number of tasks run at once; 0 means 1.
	Concurrency int
	// PollWait is NextTask's wait; 0 means 5 s.
	PollWait time.Duration
	// TaskTypes restricts the tasks taken to these types; empty: every type the sidecar's
	// worker supports.
	TaskTypes []string
	// MaxTasks: Run returns after taking this many tasks; 0: no limit.
	MaxTasks int
	// UntilIdle: Run returns once NextTask hands out nothing within PollWait.
	UntilIdle bool
}

// Job is one task being worked on.
type Job struct {
	// Task is the task as handed out; Lock its lock, held by this worker.
	Task *pb.Task
	Lock *pb.Lock
	// Token is the lock's fencing token: fence the task's writes with it.
	Token uint64

	cancel context.CancelFunc
	lost   int32 // atomic: 1 once the lock is known lost
}

// LockLost reports whether the job's lock was lost (its context is then cancelled).
func (j *Job) LockLost() bool { return atomic.LoadInt32(&j.lost) == 1 }

func (j *Job) loseLock() {
	atomic.StoreInt32(&j.lost, 1)
	j.cancel()
}

// Handler works on one task and returns its result. Its context is cancelled when the task's
// lock is lost or Run's context is done.
type Handler func(ctx context.Context, job *Job) (string, error)

// Worker runs handlers on the tasks its sidecar hands out.
type Worker struct {
	c    *Client
	opts WorkerOptions

	mu       sync.Mutex
	stopping bool
	taken    int
	finished int
	// Running jobs by task id and token: a task whose lock lapsed may come back to this worker
	// while its first attempt still runs; the two are different jobs.
	active map[jobKey]*Job
}

type jobKey struct {
	id    string
	token uint64
}

// NewWorker returns a worker taking tasks through client.
func NewWorker(client *Client, opts WorkerOptions) *Worker {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.PollWait <= 0 {
		opts.PollWait = 5 * time.Second
	}
	return &Worker{c: client, opts: opts, active: map[jobKey]*Job{}}
}

// Stop makes the worker take no new task; Run returns once the running handlers are done (and
// a waiting NextTask has returned).
func (w *Worker) Stop() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
}

// Finished returns how many tasks this worker completed or failed.
func (w *Worker) Finished() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.finished
}

func (w *Worker) stopped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

// Run works tasks until Stop, MaxTasks, an empty queue (UntilIdle), or ctx is done. When ctx is
// done, the handlers' contexts are cancelled too, and the task of a handler that then returns
// an error is handed back to the queue (its lock released) rather than failed. Returns nil, or
// the first error that is not transient (ErrInvalidArgument for unsupported task types, say).
func (w *Worker) Run(ctx context.Context, handler Handler) error {
	w.mu.Lock()
	w.stopping = false
	w.mu.Unlock()
	loopsDone := make(chan struct{})
	beatsDone := make(chan struct{})
	go func() {
		defer close(beatsDone)
		w.heartbeatLoop(loopsDone)
	}()
	var wg sync.WaitGroup
	errs := make(chan error, w.opts.Concurrency)
	for i := 0; i < w.opts.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.taskLoop(ctx, handler)
			w.Stop() // one loop ending (idle, max tasks, error) ends them all
			errs <- err
		}()
	}
	wg.Wait()
	close(loopsDone)
	<-beatsDone
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// heartbeatLoop heartbeats until done is closed.
func (w *Worker) heartbeatLoop(done <-chan struct{}) {
	interval := time.Second
	// A heartbeat whose answer never arrived may have carried the only report of a lost lock,
	// and a new lease epoch means the old lease lapsed: then every job's lock is checked.
	var epoch uint64
	verify := false
	for {
		w.mu.Lock()
		ids := map[string]bool{}
		for k := range w.active {
			ids[k.id] = true
		}
		w.mu.Unlock()
		active := make([]string, 0, len(ids))
		for id := range ids {
			active = append(active, id)
		}
		sort.Strings(active)
		wait := interval
		beat, err := w.c.Heartbeat(context.Background(), &pb.HeartbeatRequest{ActiveTasks: active})
		if err == nil {
			if announced := beat.GetHeartbeatInterval().AsDuration(); announced > 0 {
				interval, wait = announced, announced
			}
			if epoch != 0 && beat.GetLeaseEpoch() != epoch {
				verify = true
			}
			epoch = beat.GetLeaseEpoch()
			if verify {
				w.verifyLocks()
				verify = false
			}
			w.mu.Lock()
			for _, lost := range beat.GetLostLocks() {
				for k, job := range w.active {
					if k.id == lost.GetName() &&
						(lost.GetFencingToken() == 0 || lost.GetFencingToken() == k.token) {
						job.loseLock()
					}
				}
			}
			w.mu.Unlock()
		} else {
			if wait > 500*time.Millisecond { // the lease is running out: try again sooner
				wait = 500 * time.Millisecond
			}
			verify = true
		}
		t := time.NewTimer(wait)
		select {
		case <-done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// verifyLocks checks every running job's lock (RenewLock with ttl 0 changes nothing) and
// cancels the jobs whose lock is gone.
func (w *Worker) verifyLocks() {
	w.mu.Lock()
	jobs := make([]*Job, 0, len(w.active))
	for _, job := range w.active {
		jobs = append(jobs, job)
	}
	w.mu.Unlock()
	for _, job := range jobs {
		_, err := w.c.RenewLock(context.Background(), job.Lock.GetName(), job.Token, 0)
		if c := codeOf(err); c == codes.FailedPrecondition || c == codes.NotFound {
			job.loseLock()
		}
	}
}

// taskLoop takes and works tasks until the worker stops.
func (w *Worker) taskLoop(ctx context.Context, handler Handler) error {
	backoff := 100 * time.Millisecond
	for !w.stopped() && ctx.Err() == nil {
		w.mu.Lock()
		if w.opts.MaxTasks > 0 && w.taken >= w.opts.MaxTasks {
			w.mu.Unlock()
			return nil
		}
		w.taken++
		w.mu.Unlock()
		task, lock, err := w.c.NextTask(ctx, w.opts.PollWait, w.opts.TaskTypes)
		if err != nil || task == nil {
			w.mu.Lock()
			w.taken--
			w.mu.Unlock()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !transient(err) && ReasonOf(err) != ErrRateLimited.Reason {
				return err
			}
			wait := retryDelayOf(err)
			if wait == 0 {
				wait = backoff
			}
			if !sleep(ctx, wait) {
				return nil
			}
			if backoff *= 2; backoff > 5*time.Second {
				backoff = 5 * time.Second
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if task == nil {
			if w.opts.UntilIdle {
				return nil
			}
			continue
		}
		w.work(ctx, handler, task, lock)
	}
	return nil
}

// work runs handler on one task and reports its outcome.
func (w *Worker) work(ctx context.Context, handler Handler, task *pb.Task, lock *pb.Lock) {
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	job := &Job{Task: task, Lock: lock, Token: lock.GetFencingToken(), cancel: cancel}
	key := jobKey{task.GetId(), job.Token}
	w.mu.Lock()
	w.active[key] = job
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.active, key)
		w.mu.Unlock()
	}()
	result, err := runHandler(jobCtx, handler, job)
	if job.LockLost() {
		return // another attempt will run the task
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted by Run's context: hand the task back rather than count a failure.
		rctx, rcancel := context.WithTimeout(context.Background(), w.c.timeout)
		defer rcancel()
		_, _ = w.c.ReleaseLock(rctx, lock.GetName(), job.Token)
		return
	}
	w.finish(job, result, err)
}

// runHandler calls handler, turning a panic into an error (the task fails, the worker goes on).
func runHandler(ctx context.Context, handler Handler, job *Job) (result string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return handler(ctx, job)
}

// finish completes or fails the job's task, retrying transient failures.
func (w *Worker) finish(job *Job, result string, handlerErr error) {
	backoff := 100 * time.Millisecond
	for i := 0; i < 10; i++ {
		var err error
		if handlerErr == nil {
			_, err = w.c.CompleteTask(context.Background(), job.Task.GetId(), job.Token, result)
		} else {
			var permanent *PermanentError
			retryable := !errors.As(handlerErr, &permanent)
			_, err = w.c.FailTask(context.Background(), job.Task.GetId(), job.Token,
				handlerErr.Error(), retryable)
		}
		if err == nil {
			w.mu.Lock()
			w.finished++
			w.mu.Unlock()
			return
		}
		if !transient(err) {
			return // ErrFencingTokenStale, say: the lock was lost meanwhile
		}
		wait := retryDelayOf(err)
		if wait == 0 {
			wait = backoff
		}
		time.Sleep(wait)
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
}
