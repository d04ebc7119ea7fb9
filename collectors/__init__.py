"""Inputs (sources) and parsers that turn raw logs and packets into ECS events."""
