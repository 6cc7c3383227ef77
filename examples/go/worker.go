// The example worker in Go: upper-cases each task's body, until the queue is empty.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	tasksentinel "tasksentinel/clients/go"
)

func main() {
	addr := os.Getenv("SENTINEL_ADDR")
	if addr == "" {
		addr = "127.0.0.1:50051"
	}
	client, err := tasksentinel.Dial(addr, tasksentinel.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	worker := tasksentinel.NewWorker(client, tasksentinel.WorkerOptions{UntilIdle: true})
	err = worker.Run(context.Background(),
		func(ctx context.Context, job *tasksentinel.Job) (string, error) {
			return strings.ToUpper(job.Task.GetBody()), nil
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d tasks\n", worker.Finished())
}
