#!/bin/bash
# LocalStack ready hook (mounted under /etc/localstack/init/ready.d/): creates the sync
# queue and its dead-letter queue as in production. Both are FIFO (AWS rejects a
# standard DLQ behind a FIFO queue); the scheduler sets explicit deduplication ids, so
# content-based deduplication stays off. After 5 failed receives a message moves to the DLQ.
set -euo pipefail

QUEUE_NAME="${PL_EVENT_GUEST_SYNC_QUEUE_NAME:-pl-event-guest-sync}.fifo"
DLQ_NAME="${PL_EVENT_GUEST_SYNC_QUEUE_NAME:-pl-event-guest-sync}-dlq.fifo"
MAX_RECEIVE_COUNT=5
VISIBILITY_TIMEOUT=120

awslocal sqs create-queue --queue-name "$DLQ_NAME" \
  --attributes '{"FifoQueue":"true","ContentBasedDeduplication":"false","MessageRetentionPeriod":"1209600"}' >/dev/null
dlq_url=$(awslocal sqs get-queue-url --queue-name "$DLQ_NAME" --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)

# RedrivePolicy is a JSON document carried as a string inside the attributes JSON.
redrive=$(printf '{\\"deadLetterTargetArn\\":\\"%s\\",\\"maxReceiveCount\\":\\"%s\\"}' "$dlq_arn" "$MAX_RECEIVE_COUNT")
attributes=$(printf '{"FifoQueue":"true","ContentBasedDeduplication":"false","VisibilityTimeout":"%s","RedrivePolicy":"%s"}' \
  "$VISIBILITY_TIMEOUT" "$redrive")
awslocal sqs create-queue --queue-name "$QUEUE_NAME" --attributes "$attributes" >/dev/null

echo "luma-guest-sync: created $QUEUE_NAME (dead letters to $DLQ_NAME after $MAX_RECEIVE_COUNT receives)"
