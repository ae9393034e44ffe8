import 'healloop-cypress/support';
