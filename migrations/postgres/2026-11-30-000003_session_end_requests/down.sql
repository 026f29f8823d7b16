DROP TABLE session_end_requests;
