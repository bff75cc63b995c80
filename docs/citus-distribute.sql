-- Generated from the migrated schema and checked by tests/test_schema_rules.py: do not edit by hand.
-- Run once on the Citus coordinator after `identity migrate` (see docs/citus.md).
BEGIN;
SELECT create_reference_table('platform_admins');
SELECT create_reference_table('tenants');
SELECT create_reference_table('admin_sessions');
SELECT create_distributed_table('users', 'tenant_id');
SELECT create_distributed_table('audit_events', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('authorization_requests', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('clients', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('dpop_proof_jtis', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('initial_access_tokens', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('invitations', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('login_throttles', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('signing_keys', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('tenant_scopes', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('token_usage', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('browser_sessions', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('client_assertion_jtis', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('consents', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('grants', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('logout_deliveries', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('memberships', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('pushed_requests', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('revoked_access_tokens', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('authorization_codes', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('device_authorizations', 'tenant_id', colocate_with => 'users');
SELECT create_distributed_table('refresh_tokens', 'tenant_id', colocate_with => 'users');
COMMIT;
