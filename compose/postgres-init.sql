-- Sample data for the compose setup: run once by the postgres image's entrypoint, on an empty
-- data directory, in the `postgres` database (the one the inventory connector reads).
CREATE SCHEMA inventory;

CREATE TABLE inventory.customers (
    id         serial PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.orders (
    id          serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES inventory.customers (id),
    amount      numeric(10, 2) NOT NULL,
    status      text NOT NULL DEFAULT 'new',
    ordered_at  timestamptz NOT NULL DEFAULT now()
);

-- The default (the primary key) is what the connector expects; stated so that it is visible.
ALTER TABLE inventory.customers REPLICA IDENTITY DEFAULT;
ALTER TABLE inventory.orders REPLICA IDENTITY DEFAULT;

INSERT INTO inventory.customers (name, email) VALUES
    ('Sally Thomas', 'sally.thomas@example.com'),
    ('George Bailey', 'gbailey@example.com'),
    ('Anne Kretchmar', 'annek@example.com');

INSERT INTO inventory.orders (customer_id, amount, status) VALUES
    (1, 19.99, 'shipped'),
    (1, 5.00, 'new'),
    (2, 120.50, 'paid'),
    (3, 42.00, 'new');
