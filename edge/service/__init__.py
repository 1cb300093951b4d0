"""The appliance service: journal, worker, sources (scan folder, MQTT, HTTP) and sinks."""
