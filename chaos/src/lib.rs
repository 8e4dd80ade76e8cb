//! edgeheal-chaos: chaos scenarios, labelled telemetry, the simulated cluster and the closed-loop demo.
