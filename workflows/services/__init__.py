"""Engine services in the spirit of Camunda's API: each takes a session and works without HTTP."""
