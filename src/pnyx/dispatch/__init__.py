"""The production loop: snapshot from the database -> scheduler cycle -> persist -> executors -> reconcile."""
