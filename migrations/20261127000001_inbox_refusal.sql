-- The kind of a refusal, stored with the outcome so the api can answer it as an error with a
-- stable code (schemas::response::Refusal: the word here, the code and HTTP status on the
-- wire). Null on applied rows, and on refusals stored before this column (answered as
-- `refused`, code 40900).
alter table inbox add column refusal text;
