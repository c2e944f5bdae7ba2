"""Developer tools the app never imports: the sample-data generator and the alert back-test."""
