"""The automation engine: triggers evaluated on every stored event, firings recorded.

- `evaluator.py`: the pure core. Given a trigger, events in order and a clock, it yields
  firings; no database, no wall clock, no channel layer. The live engine and the backtest both
  drive it.
- `models.py`: what the engine stores (each automation's evaluator state, firings, held
  followers).
- `worker.py`: the live engine (`manage.py run_automations`): claims stored event batches,
  evaluates them against the enabled automations that could cover them, stores state and
  firings, and emits Prefect's `prefect.automation.triggered` / `.resolved` events.
- `backtest.py`: the same evaluator over the stored events of a past range, in event time.
"""
