"""Pure domain: ids, models, event types, rules, markup and visibility. No I/O."""
