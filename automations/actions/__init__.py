"""Running automations' actions: a firing's actions become jobs on the durable queue
(`enqueue`), a worker (`runner`) runs each attempt (`run`) with the executor of its type
(`executors`), recording it (`models.ActionRun`) and emitting Prefect's action events."""
